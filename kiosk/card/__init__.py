"""The kiosk's card-reader layer: the My Number card (個人番号カード) over PC/SC.

- :mod:`kiosk.card.mynumber` — the card routine the kiosk runs (identify, PIN, read, sign).
- :mod:`kiosk.card.reader` — the reader interface: PC/SC (pcscd) or an in-process emulator.
- :mod:`kiosk.card.emulator` — a My Number card emulator (pure APDU logic) for tests and demos.
- :mod:`kiosk.card.demo_cards` — a test "J-LIS" CA and demo residents' cards.
- :mod:`kiosk.card.vpcd` — puts an emulator into pcscd's virtual reader (vsmartcard vpcd).
- :mod:`kiosk.card.apdu`, :mod:`kiosk.card.tlv`, :mod:`kiosk.card.card_files`,
  :mod:`kiosk.card.layout` — APDUs and status words, BER-TLV, the files' contents, and
  where things live on the card; :mod:`kiosk.card.errors` — what can go wrong.

The card-authentication proof both kiosk and server use is :mod:`common.card_proof`.
Nothing here imports ``web/`` or ``db/``: the kiosk reaches the server over HTTP only.
"""
