"""The public verify page (/verify): paste or upload a certificate, get a clear verdict.

Accepts a ``shc:/`` text or a JWS, a VDS-NC JSON, or an uploaded image or PDF
(decoded off the event loop in child processes with time and memory limits:
:mod:`web.verify_decoding`); an uploaded PDF's own signature is checked too
(pyHanko, in such a child). A SMART Health Card verifies only against the keys
of the issuer its ``iss`` names (ours, or one of the trust directory,
:mod:`web.issuer_directory`), with ``exp`` and ``nbf`` checked and that issuer's
revocation list applied; VDS-NC seals against our CSCA and the configured
CSCAs, with our revoked UVCIs and each CSCA's CRL. Doses show product names.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import anyio
from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from db.certificates.verification import VerificationData, verification_data
from signing import shc, vdsnc
from signing.errors import VerificationError, VerificationFailure
from web.errors import BadInput
from web.forms import MultipartForm, VerifyForm
from web.i18n import language_of, translate
from web.issuer_directory import TrustedIssuer
from web.rate_limit import rate_limited
from web.signing_context import SigningContext
from web.verify_decoding import MAX_UPLOAD_BYTES, Busy, DecodeError, decode_upload, pdf_signature

MAX_TEXT_CHARS = 20_000
#: How far ahead of our clock a card's ``nbf`` may be (clock skew between issuer and us).
NBF_SKEW = dt.timedelta(minutes=5)

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


def _claimed_issuer(text: str) -> str | None:
    """The ``iss`` a card claims, read before its signature is checked (to pick the keys
    of that issuer only); ``None`` when it cannot be read (the verification says why)."""
    try:
        value = text.strip()
        card_jws = shc.from_qr_text(value) if value.startswith(shc.QR_PREFIX) else value
        payload = card_jws.split(".")[1]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        inflater = zlib.decompressobj(-15)
        claims = json.loads(inflater.decompress(raw, 64 * 1024))
        return str(claims["iss"]) if isinstance(claims, dict) and "iss" in claims else None
    except (ValueError, IndexError, KeyError, TypeError, zlib.error, VerificationError):
        return None


def our_issuer(signing: SigningContext, revoked_rows: list[dict[str, Any]]) -> TrustedIssuer:
    """Our own issuer: every SHC key (retired included) and our revocations by key."""
    crls = {}
    for key in signing.keys.shc_keys:
        rids = {
            signing.keys.shc_rid(r["certificate_id"]): None
            for r in revoked_rows
            if r["shc_kid"] == key.kid
        }
        crls[key.kid] = shc.RevocationList(kid=key.kid, ctr=len(rids), rids=rids)
    return TrustedIssuer(signing.issuer_url, "", signing.our_jwks_keys(), crls=crls)


def _shc_result(
    text: str, signing: SigningContext, data: VerificationData, now: dt.datetime, language: str
) -> Result:
    """Verify a card against the keys of the issuer it names, and only those.

    The issuer must be ours or in the trust directory; a key of another trusted
    issuer does not verify a card claiming our ``iss``. ``exp`` and ``nbf`` are
    checked, and the issuer's CRL for the key applied when the key has
    ``crlVersion`` (ours always).
    """
    iss = _claimed_issuer(text)
    issuers = {**signing.directory.issuers, signing.issuer_url: our_issuer(signing, data.revoked)}
    issuer = issuers.get(iss or "")
    if issuer is None:
        # No trusted issuer by that name (or its iss is unreadable): never valid. Tell a
        # tampered or malformed card from a genuine one of an unknown issuer, using every
        # trusted key only to classify the failure.
        every_key = {kid: key for known in issuers.values() for kid, key in known.keys.items()}
        try:
            shc.verify_card(text, every_key)
        except VerificationError as error:
            if error.reason is not VerificationFailure.UNKNOWN_KEY:
                return Result("shc", VERDICTS[error.reason], error.detail)
        return Result("shc", "unknown_key", f"issuer {iss!r} is not trusted")
    try:
        card = shc.verify_card(text, issuer.keys, expected_issuer=issuer.iss)
    except VerificationError as error:
        return Result("shc", VERDICTS[error.reason], error.detail)
    claims = card.claims
    nbf = float(claims.get("nbf", 0))
    if dt.datetime.fromtimestamp(nbf, dt.UTC) > now + NBF_SKEW:
        return Result(
            "shc", "not_yet_valid", f"nbf {dt.datetime.fromtimestamp(nbf, dt.UTC):%Y-%m-%d}"
        )
    exp = claims.get("exp")
    if exp is not None:
        if not isinstance(exp, int | float):
            return Result("shc", "unreadable", "exp is not a number")
        if dt.datetime.fromtimestamp(float(exp), dt.UTC) <= now:
            return Result(
                "shc", "expired", f"exp {dt.datetime.fromtimestamp(float(exp), dt.UTC):%Y-%m-%d}"
            )
    crl = issuer.crls.get(card.kid)
    if crl is None and card.kid in issuer.crl_versions:
        return Result("shc", "revocation_unknown", f"no revocation list for key {card.kid}")
    if crl is not None and crl.revokes(card.rid, nbf):
        return Result("shc", "revoked", "the issuer has revoked this card")
    facts: list[tuple[str, str]] = [("verify.issuer", issuer.name or card.issuer_url)]
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
            when = str(resource.get("occurrenceDateTime", ""))
            doses.append(
                [
                    when,
                    product_name(data, codes, when, language),
                    str(resource.get("lotNumber", "")),
                ]
            )
    return Result("shc", "valid", "", facts, doses)


def _seal_result(text: str, signing: SigningContext, data: VerificationData) -> Result:
    """Verify a seal against the configured CSCAs; our revoked UVCIs apply to seals under
    our CSCA, each other CSCA's CRL to the signer certificates it revoked."""
    ours = signing.our_csca()
    cscas = [ours, *(csca.certificate for csca in signing.directory.cscas)]
    try:
        seal = vdsnc.verify_seal(text, cscas)
    except VerificationError as error:
        return Result("vdsnc", VERDICTS[error.reason], error.detail)
    except (ValueError, KeyError, TypeError) as error:
        return Result("vdsnc", "unreadable", str(error)[:200])
    issued_by_us = seal.signer.issuer == ours.subject
    if issued_by_us and seal.uvci in {r["certificate_id"] for r in data.revoked}:
        return Result("vdsnc", "revoked", f"certificate {seal.uvci} has been revoked")
    for csca in signing.directory.cscas:
        if seal.signer.issuer == csca.certificate.subject and (
            seal.signer.serial_number in csca.revoked_serials
        ):
            return Result("vdsnc", "revoked", "the CSCA has revoked the signer certificate")
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


def product_name(data: VerificationData, codes: list[Any], when: str, language: str) -> str:
    """The vaccine's product name from its CVX code (our master, else a short table)."""
    cvx = ""
    for coding in codes:
        if isinstance(coding, dict) and str(coding.get("system", "")).endswith("/cvx"):
            cvx = str(coding.get("code", ""))
            break
    else:
        first = codes[0] if codes and isinstance(codes[0], dict) else {}
        cvx = str(first.get("code", ""))
    try:
        on = dt.date.fromisoformat(when[:10])
    except ValueError:
        on = None
    name = data.product_name(cvx, on, language) or KNOWN_CVX.get(cvx)
    return name or f"CVX {cvx}"


#: Products other issuers certify that our master may lack (CDC CVX codes).
KNOWN_CVX = {
    "207": "Moderna COVID-19 Vaccine (SPIKEVAX)",
    "208": "Pfizer-BioNTech COVID-19 Vaccine (COMIRNATY)",
    "210": "AstraZeneca COVID-19 Vaccine (Vaxzevria)",
    "211": "Novavax COVID-19 Vaccine (Nuvaxovid)",
    "212": "Janssen COVID-19 Vaccine",
    "213": "COVID-19 vaccine, unspecified",
    "217": "Pfizer-BioNTech COVID-19 Vaccine (12 years+)",
    "218": "Pfizer-BioNTech COVID-19 Vaccine (5-11 years)",
    "219": "Pfizer-BioNTech COVID-19 Vaccine (6 months-4 years)",
    "229": "Moderna COVID-19 Bivalent",
    "300": "Pfizer-BioNTech COVID-19 Bivalent",
    "510": "Sinopharm BIBP COVID-19 Vaccine",
    "511": "Sinovac CoronaVac",
}


def verify_now(
    text: str,
    signing: SigningContext,
    data: VerificationData,
    now: dt.datetime,
    language: str = "ja",
) -> Result:
    """Verify one pasted or decoded credential (CPU only: call it in a worker thread)."""
    value = text.strip()
    if value.startswith(("{", "[")):
        return _seal_result(value, signing, data)
    if value.startswith(shc.QR_PREFIX) or value.count(".") == 2:
        try:
            return _shc_result(value, signing, data, now, language)
        except (ValueError, KeyError, TypeError) as error:
            return Result("shc", "unreadable", str(error)[:200])
    return Result("unknown", "unreadable", "")


async def verify_text(
    text: str, signing: SigningContext, now: dt.datetime | None = None, language: str = "ja"
) -> Result:
    """Verify one pasted or decoded credential, off the event loop."""
    data = await verification_data()
    moment = now or dt.datetime.now(dt.UTC)
    return await anyio.to_thread.run_sync(verify_now, text, signing, data, moment, language)


async def verify_pdf(data: bytes, signing: SigningContext) -> Result:
    """The uploaded PDF's own signature (pyHanko, in a limited child process)."""
    from cryptography.hazmat.primitives import serialization

    roots = signing.keys.pdf_root.public_bytes(serialization.Encoding.PEM)
    answer = await pdf_signature(data, roots)
    if not answer.get("signed"):
        return Result("pdf", "unsigned")
    facts = [("verify.pdf_signer", str(answer.get("signer", "")))]
    if answer.get("signed_at"):
        facts.append(("verify.pdf_signed_at", str(answer["signed_at"])[:19].replace("T", " ")))
    if not (answer.get("intact") and answer.get("valid")):
        return Result("pdf", "tampered", "", facts)
    if not answer.get("trusted"):
        return Result("pdf", "unknown_key", "", facts)
    if not answer.get("bottom_line"):
        return Result("pdf", "modified", "", facts)
    return Result("pdf", "valid", "", facts)


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
        middleware=[rate_limited("verify")],
        media_type=MediaType.HTML,
        request_max_body_size=MAX_UPLOAD_BYTES + MAX_TEXT_CHARS * 4 + 65536,
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        signing: NamedDependency[SigningContext],
        data: MultipartForm[VerifyForm],
    ) -> Template:
        """Decode and verify what was pasted or uploaded."""
        # Anonymous use: the shared per-source rate limit (rate_limited("verify")) counts each
        # request; on top, each process decodes at most MAX_CONCURRENT_DECODES uploads at
        # once (more are refused with 429) and every decoder runs in a limited child process.
        text = data.text[:MAX_TEXT_CHARS]
        language = language_of(request)
        try:
            texts: list[str] = []
            results: list[Result] = []
            if data.file is not None:
                content = await data.file.read(MAX_UPLOAD_BYTES + 1)
                if content:
                    texts = await decode_upload(content)
                    if content.startswith(b"%PDF"):
                        results.append(await verify_pdf(content, signing))
            if not texts and text.strip():
                texts = [text]
            if not texts:
                raise BadInput("verify.nothing_given")
            results = [
                *[await verify_text(t, signing, language=language) for t in texts[:4]],
                *results,
            ]
        except Busy as error:
            return Template(
                "verify/index.html",
                context={"results": None, "text": text, "error": translate(error.key, language)},
                status_code=429,
            )
        except BadInput as error:
            return Template(
                "verify/index.html",
                context={
                    "results": None,
                    "text": text,
                    "error": translate(error.key, language, **error.params),
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

__all__ = ["ROUTES", "DecodeError", "Result", "decode_upload", "verify_text"]
