"""The card as the kiosk holds it through one transaction: PIN once, sign twice.

The kiosk proves the card before showing the fee (preview) and again after the
payment (issuance), each over a fresh server challenge. So that the PIN is not
kept for the second signature, this routine verifies the input support PIN
first, reads My Number and basic 4, then verifies the JPKI authentication PIN
and stays in the JPKI AP: while the card stays in the reader its verified state
lets it sign the second challenge. Removing the card ends everything.
"""

from __future__ import annotations

from common.card_proof import Basic4, CardProof
from kiosk.card import layout
from kiosk.card.errors import PinLockedError
from kiosk.card.mynumber import MyNumberCard, check_pin_format


class HeldCard(MyNumberCard):
    """A My Number card kept connected for a transaction."""

    _certificate: bytes | None = None
    _my_number: str | None = None
    _basic4: Basic4 | None = None

    def unlock(self, pin: str, challenge: bytes) -> CardProof:
        """Verify the PIN on the card (both PINs) and prove ``challenge``.

        Raises:
            WrongPinError, PinLockedError, CardError: as :meth:`MyNumberCard.prove`.
        """
        check_pin_format(pin)
        jpki_tries = self._tries_left(layout.JPKI_AID, layout.JPKI_AUTH_PIN)
        input_support_tries = self._tries_left(layout.INPUT_SUPPORT_AID, layout.INPUT_SUPPORT_PIN)
        if jpki_tries == 0 or input_support_tries == 0:
            raise PinLockedError()
        self._verify(layout.INPUT_SUPPORT_AID, layout.INPUT_SUPPORT_PIN, pin, jpki_tries)
        self._my_number = self.read_my_number()
        self._basic4 = self.read_basic4()
        # The input support counter is full again after its success.
        self._verify(layout.JPKI_AID, layout.JPKI_AUTH_PIN, pin, layout.PIN_MAX_TRIES)
        self._certificate = self.read_auth_certificate()
        return self.prove_again(challenge)

    def prove_again(self, challenge: bytes) -> CardProof:
        """Sign another challenge with the PIN verified by :meth:`unlock`."""
        if self._certificate is None or self._my_number is None or self._basic4 is None:
            raise PinLockedError()  # never unlocked: nothing to prove with
        return CardProof(
            auth_certificate=self._certificate,
            signature=self.sign_challenge(challenge),
            my_number=self._my_number,
            basic4=self._basic4,
        )

    def forget(self) -> None:
        """Drop what was read from the card (personal data) and end the session."""
        self._certificate = None
        self._my_number = None
        self._basic4 = None
        self.disconnect()
