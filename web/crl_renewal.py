"""The running server keeps the system's CRLs fresh: no cron job to remember.

The signer certificates name ``<VRS_BASE_URL>/pki/pdf-root.crl`` and
``/pki/csca.crl``. A CRL past its next update makes every validator that
checks revocation (``pdfsig``, ``pyhanko sign adesverify``) doubt every
certificate at once, and a B-LTA signature would embed the stale list. So each
server process checks at start-up and then every hour
(:data:`CHECK_EVERY_SECONDS`) whether the lists are due
(:data:`signing.keys.CRL_RENEW_AFTER`, a month), and renews them with the CA
keys in the key store. The store's lock (``crl.lock``) makes one process of
several sign; the others, and this one, then read the new lists from disk so
that the PDF signer embeds them. ``vrs keys renew-crl`` still renews at once.

Why the server and not a cron job or a systemd timer: the server is the one
service a municipality installs and monitors (``vrs serve``, in a container or
under systemd), it already holds the key passphrase, and a container has no cron.
A forgotten timer would fail silently a year later; a failed renewal here is
logged as an error every hour while the old list is still valid.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from common.settings import Settings
from signing.keys import KeyStore, KeyStoreError
from web.signing_context import SigningProvider, key_directory

log = logging.getLogger("vrs.crl")

#: How often each server process looks at the CRLs' age.
CHECK_EVERY_SECONDS = 3600.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CrlKeeper:
    """Renews the store's CRLs when due and keeps this process's signer on the current ones.

    Args:
        settings: where the key store is and its passphrase.
        signing: this process's signing context (its PDF signer embeds our CRLs).
        now: the clock (tests move it).
    """

    def __init__(
        self,
        settings: Settings,
        signing: SigningProvider,
        now: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._settings = settings
        self._signing = signing
        self._now = now

    def check(self) -> bool:
        """Renew the CRLs if due (blocking: file locks and signatures); returns whether this renewed."""
        if self._signing.loaded() is None:  # no keys yet: nothing to renew
            return False
        renewed = KeyStore.renew_crl_if_due(
            key_directory(self._settings), self._settings.key_passphrase, now=self._now()
        )
        if renewed:
            log.info("renewed the PDF root and CSCA CRLs")
        self._signing.reload_crls()  # ours, or another process's renewal
        return renewed

    async def run(self, every: float = CHECK_EVERY_SECONDS) -> None:
        """Check now and then every ``every`` seconds, until cancelled; never raises otherwise."""
        while True:
            try:
                await asyncio.to_thread(self.check)
            except (KeyStoreError, OSError, ValueError) as error:
                log.error("CRL renewal failed (the current lists stay published): %s", error)
            await asyncio.sleep(every)
