"""Decoding what anonymous visitors upload to /verify, off the event loop and bounded.

A crafted 2.6 KB PDF (nested forms drawing each other) held the single worker's
event loop, and so ``/healthz``, for 15 s: the decoders ran in ``subprocess.run``
inside the handler. Now each decoder (``pdftoppm`` renders PDF pages,
``zbarimg`` reads QR codes, ``python -m web.verify_pdf_signature`` checks a
PDF's own signature with pyHanko) is a child process awaited asynchronously,
with

- a wall-clock limit (:data:`DECODE_TIMEOUT_SECONDS`; then it is killed and the
  visitor gets ``verify.decode_timeout``),
- a CPU-time limit, an address-space limit and a file-size limit (rlimits set
  in the child before it runs), so a decompression bomb cannot take the
  machine's memory or disk,
- input size caps (:data:`MAX_UPLOAD_BYTES`, pages rendered, pixels per page),
- at most :data:`MAX_CONCURRENT_DECODES` decodes at once per server process;
  more are refused with 429 ``verify.busy`` rather than queued.

Anonymous use is also rate limited per source address by the shared limiter
(:mod:`web.rate_limit`, ``verify``), on the route itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from web.errors import AppError, BadInput

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PAGES = 4
#: The long side of a rendered page in pixels: A4 at about 200 dpi, enough for our codes.
PAGE_PIXELS = 2400
DECODE_TIMEOUT_SECONDS = 10.0
CPU_SECONDS = 10
MEMORY_BYTES = 768 * 1024 * 1024
FILE_BYTES = 64 * 1024 * 1024
MAX_CONCURRENT_DECODES = 2

_slots = asyncio.Semaphore(MAX_CONCURRENT_DECODES)


class DecodeError(BadInput):
    """An upload could not be decoded (the key says why)."""


class Busy(AppError):
    """Too many decodes at once on this server: try again shortly."""

    status_code = HTTP_429_TOO_MANY_REQUESTS


def _limit_child() -> None:  # pragma: no cover - runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_BYTES, FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


async def run_limited(command: list[str], stdin: bytes | None = None) -> tuple[int, bytes]:
    """Run a decoder with the limits above; its exit status and standard output.

    Raises:
        DecodeError: ``verify.decoder_missing`` or ``verify.decode_timeout``.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_limit_child,  # noqa: PLW1509 - only setrlimit, no locks taken
        )
    except FileNotFoundError:
        raise DecodeError("verify.decoder_missing") from None
    try:
        output, _ = await asyncio.wait_for(process.communicate(stdin), DECODE_TIMEOUT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise DecodeError("verify.decode_timeout", seconds=int(DECODE_TIMEOUT_SECONDS)) from None
    if process.returncode is not None and process.returncode < 0:
        # Killed by a limit (SIGXCPU, SIGKILL) or a crash: as unreadable as a timeout.
        raise DecodeError("verify.decode_timeout", seconds=int(DECODE_TIMEOUT_SECONDS))
    return process.returncode or 0, output


@contextlib.asynccontextmanager
async def decode_slot() -> AsyncIterator[None]:
    """One of the few decode slots of this process, or 429 at once."""
    if _slots.locked():
        raise Busy("verify.busy")
    async with _slots:
        yield


async def decode_upload(data: bytes) -> list[str]:
    """The QR texts in an uploaded image or PDF (at most :data:`MAX_PAGES` pages)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DecodeError("verify.upload_too_large")
    async with decode_slot():
        with tempfile.TemporaryDirectory(prefix="vrs-verify-") as directory:
            root = Path(directory)
            if data.startswith(b"%PDF"):
                (root / "upload.pdf").write_bytes(data)
                await run_limited(
                    ["pdftoppm", "-scale-to", str(PAGE_PIXELS), "-l", str(MAX_PAGES), "-png",
                     str(root / "upload.pdf"), str(root / "page")]
                )  # fmt: skip
                images = sorted(root.glob("page*.png"))
            else:
                (root / "upload.img").write_bytes(data)
                images = [root / "upload.img"]
            texts: list[str] = []
            for image in images:
                _, output = await run_limited(
                    ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)]
                )
                texts.extend(
                    line.strip()
                    for line in output.decode("utf-8", "replace").splitlines()
                    if line.strip()
                )
    if not texts:
        raise DecodeError("verify.no_code_found")
    return texts


async def pdf_signature(data: bytes, trust_roots_pem: bytes) -> dict[str, Any]:
    """The uploaded PDF's own signature as pyHanko sees it, checked in a child process.

    Answers ``{"signed": bool, "intact": bool, "valid": bool, "trusted": bool,
    "signer": str, "signed_at": str}``.
    """
    async with decode_slot():
        with tempfile.TemporaryDirectory(prefix="vrs-verify-") as directory:
            roots = Path(directory) / "roots.pem"
            roots.write_bytes(trust_roots_pem)
            status, output = await run_limited(
                [sys.executable, "-m", "web.verify_pdf_signature", str(roots)], stdin=data
            )
    try:
        answer = json.loads(output or b"{}")
    except ValueError:
        answer = {}
    if status != 0 or not isinstance(answer, dict):
        return {"signed": True, "intact": False, "valid": False, "trusted": False}
    return answer
