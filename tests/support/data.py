"""Invoices and identifiers the tests share: the same suppliers and buyers everywhere, a
complete invoice as a portal entry makes it, and its JSON body."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from facturier.domain.model import (
    Address,
    InvoiceData,
    InvoiceKind,
    PaymentMeans,
    SupplierScheme,
    line,
    vat_breakdown_of,
)

ROOT = Path(__file__).resolve().parents[2]


SUPPLIER = "73282932000074"


OTHER_SUPPLIER = "54205118000066"


BUYER = "11000201100044"


OTHER_BUYER = "21750001600019"


OPERATOR = "44306184100047"  # an operator organisation: submits for suppliers by mandate


def fullwidth(text: str) -> str:
    """`text` with its ASCII letters and digits in their fullwidth look-alikes."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def arabic_indic(digits: str) -> str:
    """ASCII digits written as Arabic-Indic digits (U+0660...)."""
    return "".join(chr(0x0660 + int(c)) for c in digits)


def invoice_data(
    number: str = "F-0001",
    supplier: str = SUPPLIER,
    buyer: str = BUYER,
    net: str = "100.00",
    vat: str = "20.00",
) -> InvoiceData:
    """A complete invoice as a portal entry makes it: one line, its VAT breakdown, the
    seller's VAT number and address, an IBAN."""
    rate = (Decimal(vat) * 100 / Decimal(net)).normalize() if Decimal(net) else Decimal(20)
    lines = (line("1", "Fournitures", Decimal(1), Decimal(net), rate),)
    breakdown = vat_breakdown_of(lines)
    gross = Decimal(net) + Decimal(vat)
    siren = supplier[:9]
    return InvoiceData(
        supplier_scheme=SupplierScheme.SIRET,
        supplier_id=supplier,
        supplier_name="ACME",
        supplier_vat_number=f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}",
        supplier_address=Address("1 rue de la Paix", "", "Paris", "75002", "FR"),
        recipient_siret=buyer,
        recipient_name="Structure publique",
        service_code="SERV-1",
        order_reference="EJ00000001",
        number=number,
        kind=InvoiceKind.INVOICE,
        issue_date=date(2026, 3, 2),
        due_date=date(2026, 4, 1),
        currency="EUR",
        lines=lines,
        vat_breakdown=breakdown,
        line_total=Decimal(net),
        net_amount=Decimal(net),
        vat_amount=Decimal(vat),
        gross_amount=gross,
        payable_amount=gross,
        payment_means=(PaymentMeans("58", "FR7630006000011234567890189"),),
    )


def invoice_body(number: str, supplier: str = SUPPLIER, **changes: Any) -> dict[str, Any]:
    """`POST /invoices` to a buyer of the test directory; `changes` replace top-level fields."""
    invoice: dict[str, Any] = {
        "supplier": {"scheme": "SIRET", "id": supplier, "name": "Papeterie Durand"},
        "recipient_siret": BUYER,
        "service_code": "SE-01",
        "order_reference": "EJ00004242",
        "number": number,
        "issue_date": "2026-04-01",
        "lines": [
            {"name": "Ramettes A4", "quantity": "200", "unit_price": "5.00", "vat_rate": "20"}
        ],
        "payment": {"iban": "FR7630006000011234567890189"},
        "net_amount": "1000.00",
        "vat_amount": "200.00",
    }
    invoice.update(changes)
    return invoice
