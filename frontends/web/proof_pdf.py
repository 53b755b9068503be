"""A shipment's proof of delivery as a one-page PDF (fpdf2), for the customer to keep or
send on. Its core fonts cover Latin-1: another character is printed as "?"."""

from __future__ import annotations

from postroom.core.ports import DeliveryProof, ScanEvent
from postroom.core.tracking.model import Shipment


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def proof_pdf(
    shipment: Shipment, proof: DeliveryProof, scans: list[ScanEvent], labels: dict[str, str]
) -> bytes:
    """The PDF: the shipment, who signed and when, and its journey. ``labels`` are the
    page's words in the reader's language."""
    from fpdf import FPDF  # imported on the first PDF: it costs every process's start

    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{labels['title']} {shipment.number}"))
    pdf.set_creator("postroom")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(labels["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    facts = [
        (labels["number"], shipment.number),
        (labels["carrier"], f"{shipment.carrier} {shipment.service}".strip()),
        (labels["reference"], shipment.reference),
        (labels["recipient"], shipment.parties.recipient),
        (labels["delivered"], proof.delivered_at.isoformat(timespec="minutes")),
        (labels["signed_by"], proof.signed_by or "-"),
        (labels["carrier_reference"], proof.reference or "-"),
    ]
    for name, value in facts:
        if value:
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(50, 7, _latin1(name))
            pdf.set_font("Helvetica", "", 11)
            pdf.cell(0, 7, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, _latin1(labels["journey"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for scan in scans:
        line = (
            f"{scan.occurred_at.isoformat(timespec='minutes')}  {scan.location}  {scan.description}"
        )
        pdf.cell(0, 5, _latin1(line[:150]), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
