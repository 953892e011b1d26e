"""The FHIR Bundle a SMART Health Card carries, built from a certificate's content.

Shaped for a QR code (FORMATS §1, the SHC spec's "Health Cards are Compact"):
short ``resource:N`` references, no ``id``, ``meta``, ``text`` or
``Coding.display``. The domestic certificate names the holder in kanji, the
overseas one in Roman letters, as Japan's cards did.
"""

from __future__ import annotations

from typing import Any

from signing.content import CertificateContent

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"


def immunization_bundle(content: CertificateContent) -> dict[str, Any]:
    """A ``collection`` Bundle: one Patient, then one Immunization per dose."""
    holder = content.holder
    if content.overseas:
        family, given = holder.family_name_roman.upper(), holder.given_name_roman.upper()
    else:
        family, given = holder.family_name, holder.given_name
    # A name without a given part (one registered 氏名 without a space) is the family alone.
    name: dict[str, Any] = {"family": family}
    if given:
        name["given"] = [given]
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": "resource:0",
            "resource": {
                "resourceType": "Patient",
                "name": [name],
                "birthDate": holder.birth_date.isoformat(),
            },
        }
    ]
    for index, dose in enumerate(content.doses, start=1):
        performer = dose.municipality_en if content.overseas else dose.municipality_ja
        entries.append(
            {
                "fullUrl": f"resource:{index}",
                "resource": {
                    "resourceType": "Immunization",
                    "status": "completed",
                    "vaccineCode": {"coding": [{"system": CVX_SYSTEM, "code": dose.cvx_code}]},
                    "patient": {"reference": "resource:0"},
                    "occurrenceDateTime": dose.date.isoformat(),
                    "performer": [{"actor": {"display": performer}}],
                    "lotNumber": dose.lot,
                },
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
