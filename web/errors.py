"""One error hierarchy, mapped to responses in one place.

Browsers get an HTML error page, htmx requests an alert partial swapped into
the page, and ``/api/`` clients a JSON problem (RFC 9457) — each saying, in the
user's language, what went wrong and what to do. Bad input never answers 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from web.htmx import VARY, wants_partial
from web.i18n import language_of, translate

log = logging.getLogger("vrs.errors")


class AppError(Exception):
    """Something the user can act on. ``key`` names the message in the catalog."""

    status_code = HTTP_400_BAD_REQUEST

    def __init__(self, key: str, *, field: str | None = None, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params


class BadInput(AppError):
    """A form field, API body or file row is not acceptable."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY


class NotAllowed(AppError):
    """The signed-in account may not do this."""

    status_code = HTTP_403_FORBIDDEN


class NotFound(AppError):
    """The thing asked for does not exist in the caller's area."""

    status_code = HTTP_404_NOT_FOUND


class Conflict(AppError):
    """The request conflicts with what is already recorded."""

    status_code = HTTP_409_CONFLICT


class SignInRequired(AppError):
    """No valid session or token."""

    status_code = HTTP_401_UNAUTHORIZED


def _language(request: Request[Any, Any, Any]) -> str:
    return language_of(request)


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/")


def render_error(
    request: Request[Any, Any, Any], status: int, key: str, field: str | None = None, **params: Any
) -> Response[Any]:
    """The error response for this kind of client."""
    language = _language(request)
    # A message may name the field ({field}) as well as its own parameters.
    message = translate(key, language, **({"field": field, **params} if field else params))
    title = translate(f"error.title.{status}", language)
    if _is_api(request):
        body: dict[str, Any] = {
            "type": f"urn:vrs:error:{key}",
            "title": title,
            "status": status,
            "detail": message,
            "code": key,
        }
        if field:
            body["field"] = field
        return Response(body, status_code=status, media_type="application/problem+json")
    if wants_partial(request):
        return Template(
            "error/_alert.html",
            context={"message": message, "title": title, "field": field},
            status_code=status,
            headers={"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML", **VARY},
        )
    return Template(
        "error/error.html",
        context={"message": message, "title": title, "status": status},
        status_code=status,
        headers=VARY,
    )


def app_error_handler(request: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    """Map an :class:`AppError` to its response."""
    if isinstance(exc, SignInRequired) and not _is_api(request) and not wants_partial(request):
        return Redirect(f"/sign-in?next={request.url.path}")
    response = render_error(request, exc.status_code, exc.key, exc.field, **exc.params)
    retry_after = getattr(exc, "retry_after", None)  # a rate limit says when to come back
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors (CSRF, validation, 404, 405, 413...) in our shapes."""
    status = exc.status_code
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return render_error(request, HTTP_403_FORBIDDEN, "error.csrf")
    if isinstance(exc, ValidationException):
        return _invalid_input(request, exc)
    if isinstance(exc.__cause__, SerializationException) or isinstance(
        exc.__cause__, msgspec.DecodeError
    ):
        return _problem(request, HTTP_400_BAD_REQUEST, "json", "", "error.json_malformed")
    if isinstance(exc, NotAuthorizedException):
        if not _is_api(request) and not wants_partial(request):
            return Redirect(f"/sign-in?next={request.url.path}")
        return render_error(request, HTTP_401_UNAUTHORIZED, "error.sign_in_required")
    if isinstance(exc, NotFoundException):
        return render_error(request, HTTP_404_NOT_FOUND, "error.not_found")
    if exc.detail == _CLIENT_GONE:
        # The client hung up while sending its body: nothing failed on our side and
        # nobody reads the answer, so it is neither a 500 nor an ERROR line.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return render_error(request, HTTP_400_BAD_REQUEST, "error.http")
    if status >= 500:
        log.error("HTTP %s on %s %s", status, request.method, request.url.path)
    return render_error(
        request, status, f"error.http.{status}" if status in _KNOWN else "error.http"
    )


#: Litestar's InternalServerException detail when receive() yields http.disconnect.
_CLIENT_GONE = "client disconnected prematurely"
_KNOWN = {400, 403, 405, 413, 415, 429, 503}


#: msgspec's words for a failure -> the kind of failure a body's ``problems`` may name.
_FAILURES = (
    (re.compile(r"^Object missing required field `(?P<name>[^`]+)`"), "missing"),
    (re.compile(r"matching regex"), "text"),
    (re.compile(r"^Expected `object`"), "body"),
    (re.compile(r"^Expected `"), "type"),
)
#: The general code of each kind of failure, when the body names none.
_GENERAL = {
    "missing": "error.field_missing",
    "text": "error.field_nul",
    "body": "error.body_not_object",
    "type": "error.field_type",
    "json": "error.json_malformed",
    "invalid": "error.field_invalid",
}


def _body_type(request: Request[Any, Any, Any]) -> Any:
    """The body type the route declares, if any (:mod:`web.bodies` JSON, :mod:`web.forms` form)."""
    try:
        return request.route_handler.parsed_fn_signature.parameters["data"].annotation
    except (AttributeError, KeyError):
        return None


def _problem(
    request: Request[Any, Any, Any], status: int, failure: str, field: str, general: str
) -> Response[Any]:
    """Our code for a refused field: the body's code for it, for the failure, else ``general``."""
    body = _body_type(request)
    problems: dict[str, str] = getattr(body, "problems", {})
    failures: dict[str, str] = getattr(body, "failures", {})  # a form's general codes
    params: dict[str, Any] = dict(getattr(body, "problem_params", {}))
    path = re.sub(r"\[\d+\]", "", field)
    key = (
        problems.get(path)
        or problems.get(path.split(".")[0])
        or problems.get(failure)
        or failures.get(failure)
        or general
    )
    # A form names the field as its page does (its label); a JSON body by its name.
    label = getattr(body, "labels", {}).get(path.split(".")[0])
    name = translate(label, _language(request)) if label else field or "body"
    return render_error(request, status, key, field or None, name=name, **params)


def _invalid_input(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A refused body, query or header value: a 422 naming the first field refused."""
    extra = exc.extra if isinstance(exc.extra, list) and exc.extra else [{}]
    first = extra[0] if isinstance(extra[0], dict) else {}
    message = str(first.get("message", ""))
    field = str(first.get("key", ""))
    field = "" if field == "data" else field
    failure = "invalid"
    for pattern, kind in _FAILURES:
        found = pattern.search(message)
        if found:
            failure = kind
            if "name" in pattern.groupindex:
                field = ".".join(part for part in (field, found["name"]) if part)
            break
    if failure == "type" and not field:
        failure = "body"
    status = HTTP_422_UNPROCESSABLE_ENTITY
    return _problem(request, status, failure, field, _GENERAL[failure])


#: The database cannot be reached (down, restarting, connection lost mid-request): the
#: request did nothing, so the client may retry it (the tablet retries with the same key).
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # the connection died under a COMMIT
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # on a standby after a switchover
    ConnectionError,  # incl. db.engine.DatabaseUnavailable (no connection or statement in time)
)


def database_unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """503 with a message in the user's language and Retry-After; never a 500 or a hang."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                type(exc).__name__)  # fmt: skip
    response = render_error(request, HTTP_503_SERVICE_UNAVAILABLE, "error.database_unavailable")
    response.headers["Retry-After"] = "5"
    return response


def text_not_storable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A NUL byte (or another character PostgreSQL text cannot hold) in a form or body: 422."""
    return render_error(request, HTTP_422_UNPROCESSABLE_ENTITY, "error.control_character")


def too_deep_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """JSON (or anything parsed) nested deeper than the parser goes: 400, not a 500."""
    return render_error(request, HTTP_400_BAD_REQUEST, "error.too_deep")


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug: log it (without request bodies) and say so plainly."""
    if isinstance(exc, DATABASE_UNAVAILABLE) or isinstance(exc.__cause__, DATABASE_UNAVAILABLE):
        return database_unavailable_handler(request, exc)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return render_error(request, HTTP_500_INTERNAL_SERVER_ERROR, "error.unexpected")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AppError: app_error_handler,
    HTTPException: http_error_handler,
    asyncpg.PostgresConnectionError: database_unavailable_handler,
    asyncpg.exceptions.CharacterNotInRepertoireError: text_not_storable_handler,
    asyncpg.exceptions.UntranslatableCharacterError: text_not_storable_handler,
    RecursionError: too_deep_handler,
    asyncpg.exceptions.OperatorInterventionError: database_unavailable_handler,
    asyncpg.exceptions.TooManyConnectionsError: database_unavailable_handler,
    asyncpg.InterfaceError: database_unavailable_handler,
    asyncpg.exceptions.InternalClientError: database_unavailable_handler,
    asyncpg.exceptions.ReadOnlySQLTransactionError: database_unavailable_handler,
    ConnectionError: database_unavailable_handler,
    Exception: unexpected_error_handler,
}
