"""The invoice as a request states it (the JSON API's `POST /invoices`, the portal's entry
form, a plain PDF's typed data, the demo): one pydantic model, turned into the domain's
`InvoiceData` with line amounts, the VAT breakdown and the totals computed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field
from stdnum.fr import tva

from facturier.domain.model import (
    Address,
    InvoiceData,
    InvoiceKind,
    PaymentMeans,
    SupplierScheme,
    line,
    vat_breakdown_of,
)
from facturier.services.application.fields import (
    Body,
    Identifier,
    Line,
    Number,
    Reference,
    Siret,
    Text,
)

ZERO = Decimal(0)
# Without a due date or payment terms EN 16931 refuses an invoice with an amount due
# (BR-CO-25); the legal term for public buyers is the default.
DEFAULT_PAYMENT_TERMS = "30 days from receipt (délai global de paiement)"


class AddressIn(Body):
    line1: Line = Field(default="", max_length=200)
    line2: Line = Field(default="", max_length=200)
    city: Line = Field(default="", max_length=100)
    postcode: Line = Field(default="", max_length=20)
    country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")

    def to_domain(self) -> Address:
        return Address(self.line1, self.line2, self.city, self.postcode, self.country)


class SupplierIn(Body):
    scheme: SupplierScheme = SupplierScheme.SIRET
    id: Identifier = Field(min_length=1, max_length=40, examples=["73282932000074"])
    name: Line = Field(min_length=1, max_length=200)
    vat_number: Identifier = Field(
        default="", max_length=20, description="BT-31; derived from the SIREN when empty"
    )
    address: AddressIn = Field(default_factory=AddressIn)


class LineIn(Body):
    name: Line = Field(min_length=1, max_length=200)
    quantity: Number = Field(max_digits=18, decimal_places=4)
    unit: str = Field(
        default="C62", pattern=r"^[A-Z0-9]{1,3}$", description="UN/ECE rec. 20 (C62 = unit)"
    )
    unit_price: Number = Field(ge=0, max_digits=18, decimal_places=4)
    vat_rate: Number = Field(default=Decimal(20), ge=0, le=100, decimal_places=2)
    vat_category: str = Field(default="S", pattern=r"^(S|Z|E|AE|K|G|O|L|M)$")


class PaymentIn(Body):
    means_code: str = Field(default="58", pattern=r"^[0-9]{1,3}$", description="58 SEPA transfer")
    iban: Identifier = Field(default="", max_length=42)
    bic: Identifier = Field(default="", max_length=11)
    remittance: Reference = Field(default="", max_length=140)


class InvoiceIn(Body):
    """An invoice typed in the portal or posted by the supplier's software. Line amounts,
    the VAT breakdown and the totals are computed; totals sent are checked against them."""

    supplier: SupplierIn
    recipient_siret: Siret
    recipient_name: Line = Field(default="", max_length=200)
    service_code: Reference = Field(default="", max_length=100)
    order_reference: Reference = Field(
        default="", max_length=50, description="engagement juridique"
    )
    contract_reference: Reference = Field(default="", max_length=50)
    number: Reference = Field(min_length=1, max_length=20)
    kind: InvoiceKind = InvoiceKind.INVOICE
    issue_date: date
    due_date: date | None = None
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    lines: list[LineIn] = Field(min_length=1, max_length=2000)
    vat_exemption_reason: Line = Field(
        default="", max_length=200, description="BT-120, for exempt or reverse-charge lines"
    )
    prepaid_amount: Number = Field(default=ZERO, max_digits=18, decimal_places=2)
    payment: PaymentIn | None = None
    payment_terms: Text = Field(default="", max_length=500)
    net_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)
    vat_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)
    gross_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)
    payable_amount: Number | None = Field(default=None, max_digits=18, decimal_places=2)

    def to_domain(self) -> InvoiceData:
        lines = tuple(
            line(str(i), x.name, x.quantity, x.unit_price, x.vat_rate, x.vat_category, x.unit)
            for i, x in enumerate(self.lines, start=1)
        )
        breakdown = vat_breakdown_of(lines, self.vat_exemption_reason)
        line_total = sum((x.net_amount for x in lines), ZERO)
        vat_total = sum((row.tax_amount for row in breakdown), ZERO)
        net = self.net_amount if self.net_amount is not None else line_total
        vat = self.vat_amount if self.vat_amount is not None else vat_total
        gross = self.gross_amount if self.gross_amount is not None else net + vat
        payable = (
            self.payable_amount if self.payable_amount is not None else gross - self.prepaid_amount
        )
        payment = self.payment
        return InvoiceData(
            supplier_scheme=self.supplier.scheme,
            supplier_id=self.supplier.id,
            supplier_name=self.supplier.name,
            supplier_vat_number=self.supplier.vat_number or _french_vat(self.supplier),
            supplier_address=self.supplier.address.to_domain(),
            recipient_siret=self.recipient_siret,
            recipient_name=self.recipient_name,
            service_code=self.service_code,
            order_reference=self.order_reference,
            contract_reference=self.contract_reference,
            number=self.number,
            kind=self.kind.value,
            issue_date=self.issue_date,
            due_date=self.due_date,
            currency=self.currency,
            lines=lines,
            vat_breakdown=breakdown,
            line_total=line_total,
            net_amount=net,
            vat_amount=vat,
            gross_amount=gross,
            prepaid_amount=self.prepaid_amount,
            payable_amount=payable,
            payment_means=(
                (PaymentMeans(payment.means_code, payment.iban.replace(" ", ""), payment.bic),)
                if payment
                else ()
            ),
            payment_terms=self.payment_terms or ("" if self.due_date else DEFAULT_PAYMENT_TERMS),
        )


def _french_vat(supplier: SupplierIn) -> str:
    """A French company's intra-EU VAT number follows from its SIREN (key = (12 + 3 x
    (SIREN mod 97)) mod 97); EN 16931 needs one on any invoice charging VAT (BR-S-02)."""
    if supplier.scheme is not SupplierScheme.SIRET or not supplier.id[:9].isdigit():
        return ""
    siren = supplier.id[:9]
    number = f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    return number if tva.is_valid(number) else ""
