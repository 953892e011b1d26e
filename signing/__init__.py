"""Vaccination certificates (接種証明書): content, SMART Health Card, ICAO VDS-NC, QR codes, PDF, PAdES, keys.

Bytes and dataclasses in, bytes out: nothing here knows about the web layer or
the database. The web layer loads a :class:`signing.keys.KeyStore` and builds a
:class:`signing.pades.PdfSigner` once at start-up, then calls
:func:`signing.issue.issue_certificate` per certificate; the verify page calls
:func:`signing.shc.verify_card` and :func:`signing.vdsnc.verify_seal`.
"""
