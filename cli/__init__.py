"""The ``vrs`` command line: set up, run and administer a deployment.

A package of its own because it drives every part: the server (:mod:`web`), the
data layer (:mod:`db`), the signing keys (:mod:`signing`) and, for demos and
manual tests, kiosk code (:mod:`kiosk`: the card emulator, the demo kiosk, the
demo cards). The server itself never imports kiosk code; the architecture test
(``tests/architecture``) holds both rules.
"""
