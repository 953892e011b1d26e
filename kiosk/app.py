"""The kiosk terminal's own Litestar app: the touch screens on localhost.

It owns the devices (card reader, payment, printer) and reaches the VRS server
only over HTTP (:mod:`kiosk.vrs_client`); it imports nothing of ``web/`` or
``db/``. One customer at a time: the app holds one :class:`~kiosk.flow.KioskFlow`
and every screen is rendered from its state (post/redirect/get).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from common.clock import JAPAN, now_in_japan
from kiosk.card.demo_cards import DemoCard
from kiosk.card.reader import CardReader, InProcessReader
from kiosk.devices import (
    CupsPrinter,
    DeviceError,
    PaymentDevice,
    Printer,
    PrintJob,
    SimulatedPayment,
    SpoolPrinter,
)
from kiosk.flow import KioskFlow
from kiosk.maintenance import COOKIE, SESSION_LIFETIME, MaintenanceSessions
from kiosk.messages import LANGUAGES, message
from kiosk.settings import KioskSettings
from kiosk.vrs_client import VrsClient

_HERE = Path(__file__).resolve().parent


async def _field(request: Request[Any, Any, Any], name: str) -> str:
    """One field of the posted form ("" when missing)."""
    value = (await request.form()).get(name, "")
    return value if isinstance(value, str) else ""


#: Which step of six each screen is (the progress line).
_STEPS = {"place_card": 1, "pin": 2, "choose_type": 3, "overseas_refused": 3, "fee": 4}
_STEPS |= {"not_offered": 3}
_STEPS |= {"print_failed": 5, "done": 6}
#: Screens where a pulled card must abort the transaction (polled).
_WATCH_CARD = {"pin", "choose_type", "overseas_refused", "fee"}


def _flow(request: Request[Any, Any, Any]) -> KioskFlow:
    return request.app.state.flow


def _back() -> Redirect:
    return Redirect("/", status_code=303)


@get("/", name="kiosk_screen")
async def screen(request: Request[Any, Any, Any]) -> Template:
    """Whatever screen the transaction is at."""
    flow = _flow(request)
    await flow.idle_check()
    flow.show_start()
    await flow.check_card()
    settings = flow.settings
    language = request.app.state.language
    hours = {
        "start": settings.hours_start.strftime("%H:%M"),
        "end": settings.hours_end.strftime("%H:%M"),
    }
    params = {
        "n": flow.transaction.tries_left,
        "notice": flow.ops.suspension_notice(language),
        **hours,
    }

    def t(key: str, **extra: Any) -> str:
        return message(key, language, **{**params, **extra})

    return Template(
        template_name="screen.html",
        context={
            "t": t,
            "lang": language,
            "screen": flow.screen,
            "reason": flow.reason,
            "reason_text": t(flow.reason) if flow.reason else "",
            "step": _STEPS.get(flow.screen),
            "watch_card": flow.screen in _WATCH_CARD,
            "idle_seconds": settings.idle_seconds,
            "hours_start": hours["start"],
            "hours_end": hours["end"],
            "tries_left": flow.transaction.tries_left,
            "municipalities": flow.selectable(),
            "chosen": flow.transaction.chosen,
            "not_offered": [
                {
                    **m,
                    "text": t(
                        f"offer.{m['reason']}",
                        name=m["municipality_name"],
                        contact=m.get("contact") or "",
                    ),
                }
                for m in flow.unavailable()
            ],  # fmt: skip
            "fee_each": settings.fee_yen,
            "total_fee": flow.total_fee,
            "demo_cards": request.app.state.demo_cards
            if flow.screen in ("start", "place_card")
            else [],
        },
        headers={"Cache-Control": "no-store"},
    )


@get("/card-check", name="kiosk_card_check")
async def card_check(request: Request[Any, Any, Any], screen: FromQuery[str] = "") -> Response[str]:
    """Polled every second: tells htmx to reload when the screen changed (e.g. card pulled)."""
    flow = _flow(request)
    await flow.check_card()
    await flow.idle_check()
    headers = {"HX-Redirect": "/"} if flow.screen != screen else {}
    return Response("", headers={**headers, "Cache-Control": "no-store"})


@post("/start", name="kiosk_start")
async def start(request: Request[Any, Any, Any]) -> Redirect:
    """The customer touched start."""
    await _flow(request).begin()
    return _back()


@post("/card", name="kiosk_card")
async def card(request: Request[Any, Any, Any]) -> Redirect:
    """The card is on the reader."""
    await _flow(request).read_card()
    return _back()


@post("/pin", name="kiosk_pin")
async def pin(request: Request[Any, Any, Any]) -> Redirect:
    """The 4 digits: to the card, nowhere else."""
    await _flow(request).enter_pin(await _field(request, "pin"))
    return _back()


@post("/type", name="kiosk_type")
async def certificate_type(request: Request[Any, Any, Any]) -> Redirect:
    """Domestic or overseas."""
    await _flow(request).choose_type(await _field(request, "kind"))
    return _back()


@post("/choose", name="kiosk_choose")
async def choose(request: Request[Any, Any, Any]) -> Redirect:
    """Buy, or not, one municipality's certificate."""
    await _flow(request).toggle(await _field(request, "municipality"))
    return _back()


@post("/pay", name="kiosk_pay")
async def pay(request: Request[Any, Any, Any]) -> Redirect:
    """Pay, issue, print."""
    await _flow(request).pay()
    return _back()


@post("/reprint", name="kiosk_reprint")
async def reprint(request: Request[Any, Any, Any]) -> Redirect:
    """Print again after a printer failure."""
    await _flow(request).reprint()
    return _back()


@post("/refund", name="kiosk_refund")
async def refund(request: Request[Any, Any, Any]) -> Redirect:
    """Refund after a printer failure."""
    await _flow(request).refund()
    return _back()


@post("/reset", name="kiosk_reset")
async def reset(request: Request[Any, Any, Any]) -> Redirect:
    """Finish, cancel or idle: back to the start (the language back to Japanese)."""
    await _flow(request).reset()
    request.app.state.language = "ja"
    return _back()


@post("/language", name="kiosk_language")
async def language(request: Request[Any, Any, Any]) -> Redirect:
    """Switch between Japanese and English."""
    chosen = await _field(request, "lang")
    if chosen in LANGUAGES:
        request.app.state.language = chosen
    return _back()


@post("/demo/place", name="kiosk_demo_place")
async def demo_place(request: Request[Any, Any, Any]) -> Redirect:
    """Demo mode: "place" one of the demo cards (the in-process reader) and read it."""
    cards: list[DemoCard] = request.app.state.demo_cards
    flow = _flow(request)
    raw = await _field(request, "card")
    if not cards or not raw.isdigit() or not 0 <= int(raw) < len(cards):
        return _back()
    if flow.screen == "start":
        await flow.begin()
    if flow.screen == "place_card" and isinstance(flow.reader, InProcessReader):
        flow.reader.insert(cards[int(raw)].emulator())
        await flow.read_card()
    return _back()


@post("/demo/remove", name="kiosk_demo_remove")
async def demo_remove(request: Request[Any, Any, Any]) -> Redirect:
    """Demo mode: take the card off the reader (as a customer pulling it would)."""
    flow = _flow(request)
    if request.app.state.demo_cards and isinstance(flow.reader, InProcessReader):
        flow.reader.remove()
        await flow.check_card()
    return _back()


# --- maintenance (its own credential; no customer screen leads here) ----------------------


def _maintenance_signed_in(request: Request[Any, Any, Any]) -> bool:
    sessions: MaintenanceSessions = request.app.state.maintenance
    return sessions.valid(request.cookies.get(COOKIE), dt.datetime.now(dt.UTC))


def _maintenance_only(request: Request[Any, Any, Any]) -> None:
    if not _maintenance_signed_in(request):
        raise NotAuthorizedException("maintenance sign-in required")


def _maintenance_page(request: Request[Any, Any, Any], template: str, status: int = 200,
                      **context: Any) -> Template:  # fmt: skip
    language = request.app.state.language

    def t(key: str, **params: Any) -> str:
        return message(key, language, **params)

    return Template(
        template_name=template,
        context={"t": t, "lang": language, **context},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


@get("/maintenance/sign-in", name="kiosk_maintenance_sign_in")
async def maintenance_sign_in_form(request: Request[Any, Any, Any]) -> Template:
    """The maintenance sign-in (the maintenance secret)."""
    return _maintenance_page(request, "maintenance_sign_in.html", problem=None)


@post("/maintenance/sign-in", name="kiosk_maintenance_sign_in_post")
async def maintenance_sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    """Check the secret; a session cookie for the maintenance screen."""
    sessions: MaintenanceSessions = request.app.state.maintenance
    try:
        token = sessions.sign_in(await _field(request, "secret"), dt.datetime.now(dt.UTC))
    except ValueError as error:
        return _maintenance_page(
            request, "maintenance_sign_in.html", status=401, problem=str(error)
        )
    response: Redirect = Redirect("/maintenance", status_code=303)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", path="/maintenance",
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )  # fmt: skip
    return response


@get("/maintenance", name="kiosk_maintenance")
async def maintenance(request: Request[Any, Any, Any], done: FromQuery[str] = "") -> Any:
    """Device states, pending notices and faults, the test print, the service switch."""
    if not _maintenance_signed_in(request):
        return Redirect("/maintenance/sign-in", status_code=303)
    flow = _flow(request)
    ops = flow.ops
    return _maintenance_page(
        request,
        "maintenance.html",
        devices=ops.devices,
        notices=ops.outbox.pending(),
        faults=ops.pending_faults(),
        out_of_service=ops.out_of_service,
        suspension=ops.suspension,
        last_heartbeat=ops.last_heartbeat,
        server_reachable=ops.server_reachable,
        screen=flow.screen,
        done=done,
    )


def _maintenance_done(what: str) -> Redirect:
    return Redirect(f"/maintenance?done={what}", status_code=303)


@post("/maintenance/test-print", name="kiosk_maintenance_test_print")
async def maintenance_test_print(request: Request[Any, Any, Any]) -> Redirect:
    """Print a test page (no personal data)."""
    _maintenance_only(request)
    flow = _flow(request)
    now = flow.clock().astimezone(JAPAN)
    page = PrintJob(
        f"{now:%Y%m%d%H%M%S}-test-print.txt",
        f"テスト印刷 / Test print\n店舗 {flow.settings.store_id} 端末 {flow.settings.terminal_id}"
        f"\n{now:%Y-%m-%d %H:%M:%S}\n".encode(),
        "text/plain",
    )
    try:
        flow.printer.print_jobs([page])
    except DeviceError as error:
        flow.ops.fault("printer", f"test print: {error.key}")
        return _maintenance_done("test_print_failed")
    flow.ops.device_ok("printer")
    return _maintenance_done("test_print_ok")


@post("/maintenance/service", name="kiosk_maintenance_service")
async def maintenance_service(request: Request[Any, Any, Any]) -> Redirect:
    """Put the kiosk out of service, or back in (a transaction under way is ended first)."""
    _maintenance_only(request)
    flow = _flow(request)
    out = await _field(request, "state") == "out"
    if out:
        await flow.reset()
    flow.ops.set_out_of_service(out)
    flow.show_start()
    await flow.ops.heartbeat()
    return _maintenance_done("out_of_service" if out else "in_service")


@post("/maintenance/sync", name="kiosk_maintenance_sync")
async def maintenance_sync(request: Request[Any, Any, Any]) -> Redirect:
    """Send a heartbeat and the pending notices now."""
    _maintenance_only(request)
    await _flow(request).ops.sync()
    return _maintenance_done("synced")


@post("/maintenance/sign-out", name="kiosk_maintenance_sign_out")
async def maintenance_sign_out(request: Request[Any, Any, Any]) -> Redirect:
    """End the maintenance session."""
    request.app.state.maintenance.sign_out(request.cookies.get(COOKIE))
    response = Redirect("/maintenance/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/maintenance")
    return response


@get("/healthz", name="kiosk_health")
async def health() -> dict[str, str]:
    """Liveness of the kiosk app."""
    return {"status": "ok"}


def default_printer(settings: KioskSettings) -> Printer:
    """CUPS when a destination is configured, otherwise the spool folder."""
    if settings.cups_printer:
        return CupsPrinter(settings.cups_printer)
    return SpoolPrinter(settings.spool_dir)


def demo_cards_of(settings: KioskSettings) -> list[DemoCard]:
    """The demo residents' cards (test CA; keys under ``settings.demo_key_dir``)."""
    from kiosk.card.demo_cards import DEMO_RESIDENTS, issue_demo_card, load_test_ca

    ca = load_test_ca(settings.demo_key_dir)
    return [issue_demo_card(ca, r, settings.demo_key_dir) for r in DEMO_RESIDENTS]


def create_kiosk_app(
    settings: KioskSettings,
    *,
    reader: CardReader | None = None,
    payment: PaymentDevice | None = None,
    printer: Printer | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], dt.datetime] = now_in_japan,
    demo_cards: list[DemoCard] | None = None,
) -> Litestar:
    """The kiosk app; tests pass their own devices, HTTP client and clock.

    In demo mode (``settings.demo`` or ``demo_cards`` given) there is no card reader:
    the screens offer the demo cards to place on an in-process reader.
    """
    if demo_cards is None and settings.demo:
        demo_cards = demo_cards_of(settings)
    if demo_cards:
        reader = reader or InProcessReader(name="Demo card reader")
    if reader is None:
        from kiosk.card.reader import PcscReader

        reader = PcscReader(settings.reader_name)
    client = http or httpx.AsyncClient(base_url=settings.server_url)
    flow = KioskFlow(
        settings,
        reader,
        payment or SimulatedPayment(),
        printer or default_printer(settings),
        VrsClient(client, settings.token),
        clock=clock,
    )

    flow.recover()
    heartbeats: list[asyncio.Task[None]] = []

    async def start_heartbeats() -> None:
        """At start: a heartbeat and the notices still owed, then every interval."""
        heartbeats.append(asyncio.get_running_loop().create_task(flow.ops.run()))

    async def close_http() -> None:
        for task in heartbeats:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if http is None:
            await client.aclose()

    return Litestar(
        route_handlers=[
            screen,
            card_check,
            start,
            card,
            pin,
            certificate_type,
            choose,
            pay,
            reprint,
            refund,
            reset,
            language,
            demo_place,
            demo_remove,
            maintenance_sign_in_form,
            maintenance_sign_in,
            maintenance,
            maintenance_test_print,
            maintenance_service,
            maintenance_sync,
            maintenance_sign_out,
            health,
            create_static_files_router(path="/static", directories=[_HERE / "static"]),
        ],
        template_config=TemplateConfig(directory=_HERE / "templates", engine=JinjaTemplateEngine),
        csrf_config=CSRFConfig(secret=secrets.token_hex(32), cookie_name="kiosk_csrf"),
        state=State(
            {
                "flow": flow,
                "language": "ja",
                "demo_cards": list(demo_cards or []),
                "maintenance": MaintenanceSessions(settings.maintenance_hash),
            }
        ),
        on_startup=[start_heartbeats],
        on_shutdown=[close_http],
    )
