"""Jinja2 set-up: templates in ``templates/``, the catalog as ``t()``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from db.accounts.roles import Role
from web.clock import JAPAN
from web.i18n import LANGUAGES, language_of, translate
from web.labels import code_name, product_codes_and_names, product_name

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pass_context
def _t(context: Any, key: str, **params: Any) -> str:
    request = context.get("request")
    return translate(key, language_of(request) if request is not None else "ja", **params)


@pass_context
def _language(context: Any) -> str:
    request = context.get("request")
    return language_of(request) if request is not None else "ja"


@pass_context
def _current_user(context: Any) -> Any:
    """The signed-in principal, or None (also on pages no middleware saw)."""
    request = context.get("request")
    return request.scope.get("user") if request is not None else None


@pass_context
def _back_here(context: Any) -> str:
    """This page's path and query, for links that come back here (the language switch)."""
    request = context.get("request")
    if request is None:
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@pass_context
def _product(context: Any, code: Any, day: dt.date | None = None) -> str:
    """``{{ dose.product | product }}``: the product's name in the page's language."""
    return product_name(code, _language(context), day)


@pass_context
def _named(context: Any, code: Any, kind: str) -> str:
    """``{{ dose.source | named("source") }}``: a code's name in the page's language."""
    return code_name(kind, code, _language(context))


@pass_context
def _product_codes(context: Any) -> list[tuple[str, str]]:
    return product_codes_and_names(_language(context))


def japan_time(moment: dt.datetime, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp as people in Japan read it (JST), whatever the server's zone."""
    return moment.astimezone(JAPAN).strftime(pattern)


def _printable(value: Any) -> Any:
    """What a page prints: never a NUL (invalid in HTML), e.g. a form echoing refused input."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _configure(engine: JinjaTemplateEngine) -> None:
    engine.engine.finalize = _printable
    engine.engine.filters["jst"] = japan_time
    engine.engine.filters["product"] = _product
    engine.engine.filters["named"] = _named
    engine.engine.globals.update(
        t=_t,
        language=_language,
        current_user=_current_user,
        back_here=_back_here,
        product_codes=_product_codes,
        LANGUAGES=LANGUAGES,
        Role=Role,
    )
    engine.engine.autoescape = True


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Litestar's template configuration for the server's pages."""
    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_configure
    )
