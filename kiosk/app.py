"""The kiosk terminal's own Litestar app: the touch screens on localhost.

It owns the devices (card reader, payment, printer) and reaches the VRS server
only over HTTP (:mod:`kiosk.vrs_client`); it imports nothing of ``web/`` or
``db/``. One customer at a time: the app holds one :class:`~kiosk.flow.KioskFlow`
and every screen is rendered from its state (post/redirect/get).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from kiosk.card.reader import CardReader
from kiosk.devices import CupsPrinter, PaymentDevice, Printer, SimulatedPayment, SpoolPrinter
from kiosk.flow import KioskFlow, now_in_japan
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
_STEPS |= {"print_failed": 5, "done": 6}
#: Screens where a pulled card must abort the transaction (polled).
_WATCH_CARD = {"pin", "choose_type", "overseas_refused", "fee"}


def _flow(request: Request[Any, Any, Any]) -> KioskFlow:
    return request.app.state.flow  # type: ignore[no-any-return]


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
    params = {"n": flow.transaction.tries_left, **hours}

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
            "municipalities": flow.transaction.municipalities,
            "fee_each": settings.fee_yen,
            "total_fee": flow.total_fee,
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


@get("/healthz", name="kiosk_health")
async def health() -> dict[str, str]:
    """Liveness of the kiosk app."""
    return {"status": "ok"}


def default_printer(settings: KioskSettings) -> Printer:
    """CUPS when a destination is configured, otherwise the spool folder."""
    if settings.cups_printer:
        return CupsPrinter(settings.cups_printer)
    return SpoolPrinter(settings.spool_dir)


def create_kiosk_app(
    settings: KioskSettings,
    *,
    reader: CardReader | None = None,
    payment: PaymentDevice | None = None,
    printer: Printer | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], dt.datetime] = now_in_japan,
) -> Litestar:
    """The kiosk app; tests pass their own devices, HTTP client and clock."""
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

    async def close_http() -> None:
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
            pay,
            reprint,
            refund,
            reset,
            language,
            health,
            create_static_files_router(path="/static", directories=[_HERE / "static"]),
        ],
        template_config=TemplateConfig(directory=_HERE / "templates", engine=JinjaTemplateEngine),
        csrf_config=CSRFConfig(secret=secrets.token_hex(32), cookie_name="kiosk_csrf"),
        state=State({"flow": flow, "language": "ja"}),
        on_shutdown=[close_http],
    )
