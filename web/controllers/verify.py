"""The public verify page (/verify): paste or upload a certificate, get a clear verdict.

Accepts a ``shc:/`` text or a JWS, a VDS-NC JSON, or an uploaded image or PDF
(decoded server-side: ``pdftoppm`` renders PDF pages, ``zbarimg`` reads the QR
codes, each in a subprocess with a timeout, uploads size-limited). SMART Health
Cards verify against our JWKS (retired keys included) and the extra trust list;
VDS-NC seals against our CSCA and the extra CSCAs; our revocation lists apply.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from signing import shc, vdsnc
from signing.errors import VerificationError, VerificationFailure
from web.controllers.issuer import revoked
from web.errors import BadInput
from web.signing_context import SigningContext

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_TEXT_CHARS = 20_000
DECODE_TIMEOUT_SECONDS = 20

#: verification failure → the verdict shown (message key ``verify.verdict.<verdict>``).
VERDICTS = {
    VerificationFailure.BAD_SIGNATURE: "tampered",
    VerificationFailure.MALFORMED: "unreadable",
    VerificationFailure.UNSUPPORTED: "unsupported",
    VerificationFailure.UNKNOWN_KEY: "unknown_key",
    VerificationFailure.REVOKED: "revoked",
    VerificationFailure.SIGNER_NOT_VALID: "expired_signer",
    VerificationFailure.UNTRUSTED_SIGNER: "unknown_key",
    VerificationFailure.WRONG_ISSUER: "unknown_key",
}


@dataclass
class Result:
    """One decoded credential and what we concluded."""

    format: str
    verdict: str
    detail: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    doses: list[list[str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether the verdict is valid."""
        return self.verdict == "valid"


class DecodeError(BadInput):
    """An upload could not be decoded."""


def _run(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(  # noqa: S603 - fixed executables, arguments are our temp paths
            command, capture_output=True, timeout=DECODE_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise DecodeError("verify.decoder_missing") from None
    except subprocess.TimeoutExpired:
        raise DecodeError("verify.decode_timeout") from None


def decode_upload(data: bytes) -> list[str]:
    """The QR texts in an uploaded image or PDF."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DecodeError("verify.upload_too_large")
    with tempfile.TemporaryDirectory(prefix="vrs-verify-") as directory:
        root = Path(directory)
        images: list[Path] = []
        if data.startswith(b"%PDF"):
            (root / "upload.pdf").write_bytes(data)
            _run(
                [
                    "pdftoppm",
                    "-r",
                    "200",
                    "-l",
                    "4",
                    "-png",
                    str(root / "upload.pdf"),
                    str(root / "page"),
                ]
            )
            images = sorted(root.glob("page*.png"))
        else:
            (root / "upload.img").write_bytes(data)
            images = [root / "upload.img"]
        texts: list[str] = []
        for image in images:
            result = _run(
                ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)]
            )
            texts.extend(
                line.strip()
                for line in result.stdout.decode("utf-8", "replace").splitlines()
                if line.strip()
            )
    if not texts:
        raise DecodeError("verify.no_code_found")
    return texts


def _shc_result(text: str, signing: SigningContext, revoked_rows: list[dict[str, Any]]) -> Result:
    lists = {}
    for key in signing.keys.shc_keys:
        rids = {
            signing.keys.shc_rid(r["certificate_id"]): None
            for r in revoked_rows
            if r["shc_kid"] == key.kid
        }
        lists[key.kid] = shc.RevocationList(kid=key.kid, ctr=len(rids), rids=rids)
    try:
        card = shc.verify_card(text, signing.all_shc_keys(), revocation_lists=lists)
    except VerificationError as error:
        return Result("shc", VERDICTS[error.reason], error.detail)
    facts: list[tuple[str, str]] = [("verify.issuer", card.issuer_url)]
    doses: list[list[str]] = []
    for entry in card.bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "Patient":
            for name in resource.get("name", []):
                full = " ".join([name.get("family", ""), *name.get("given", [])]).strip()
                facts.append(("verify.name", full))
            facts.append(("verify.birth_date", str(resource.get("birthDate", ""))))
        elif resource.get("resourceType") == "Immunization":
            codes = resource.get("vaccineCode", {}).get("coding", [{}])
            doses.append(
                [
                    str(resource.get("occurrenceDateTime", "")),
                    f"CVX {codes[0].get('code', '')}",
                    str(resource.get("lotNumber", "")),
                ]
            )
    return Result("shc", "valid", "", facts, doses)


def _seal_result(text: str, signing: SigningContext, revoked_rows: list[dict[str, Any]]) -> Result:
    uvcis = {r["certificate_id"] for r in revoked_rows}
    try:
        seal = vdsnc.verify_seal(text, signing.cscas(), revoked_uvcis=uvcis)
    except VerificationError as error:
        return Result("vdsnc", VERDICTS[error.reason], error.detail)
    except (ValueError, KeyError, TypeError) as error:
        return Result("vdsnc", "unreadable", str(error)[:200])
    message = seal.data.get("msg", {})
    person = message.get("pid", {})
    facts = [
        ("verify.issuing_state", str(seal.data.get("hdr", {}).get("is", ""))),
        ("verify.name", str(person.get("n", ""))),
        ("verify.birth_date", str(person.get("dob", ""))),
        ("verify.passport_number", str(person.get("i", ""))),
        ("verify.certificate_id", str(message.get("uvci", ""))),
    ]
    doses = [
        [str(d.get("dvc", "")), f"{v.get('nam', '')} ({v.get('des', '')})", str(d.get("lot", ""))]
        for v in message.get("ve", [])
        for d in v.get("vd", [])
    ]
    verdict = "valid" if seal.trusted else "unknown_key"
    return Result("vdsnc", verdict, "" if seal.trusted else seal.chain_detail, facts, doses)


async def verify_text(text: str, signing: SigningContext) -> Result:
    """Verify one pasted or decoded credential."""
    revoked_rows = await revoked()
    value = text.strip()
    if value.startswith(("{", "[")):
        return _seal_result(value, signing, revoked_rows)
    if value.startswith(shc.QR_PREFIX) or value.count(".") == 2:
        try:
            return _shc_result(value, signing, revoked_rows)
        except (ValueError, KeyError, TypeError) as error:
            return Result("shc", "unreadable", str(error)[:200])
    return Result("unknown", "unreadable", "")


class VerifyController(Controller):
    """Anyone may verify a certificate; nothing is stored."""

    include_in_schema = False
    path = "/verify"

    @get("/", name="verify")
    async def page(self) -> Template:
        """The empty form."""
        return Template("verify/index.html", context={"results": None, "text": "", "error": None})

    @post(
        "/",
        name="verify_submit",
        media_type=MediaType.HTML,
        request_max_body_size=MAX_UPLOAD_BYTES + 65536,
    )
    async def submit(
        self, request: Request[Any, Any, Any], signing: NamedDependency[SigningContext]
    ) -> Template:
        """Decode and verify what was pasted or uploaded."""
        from web.i18n import language_of, translate

        form = await request.form()
        text = str(form.get("text") or "")[:MAX_TEXT_CHARS]
        upload = form.get("file")
        try:
            texts: list[str] = []
            if upload is not None and hasattr(upload, "read"):
                data = await upload.read()
                if data:
                    texts = decode_upload(data)
            if not texts and text.strip():
                texts = [text]
            if not texts:
                raise BadInput("verify.nothing_given")
            results = [await verify_text(t, signing) for t in texts[:4]]
        except BadInput as error:
            return Template(
                "verify/index.html",
                context={
                    "results": None,
                    "text": text,
                    "error": translate(error.key, language_of(request)),
                },
                status_code=422,
            )
        return Template(
            "verify/index.html",
            context={
                "results": results,
                "text": text,
                "error": None,
                "checked_at": dt.datetime.now(dt.UTC),
            },
        )


ROUTES = [VerifyController]

__all__ = ["ROUTES", "Result", "decode_upload", "verify_text"]
