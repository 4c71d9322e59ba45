"""A buyer structure's legal payment period: 30 days unless an admin set another (50 for
public hospitals); it applies to the invoices the structure receives from then on. Who
reads it: the structure itself, auditors and admins; who sets it: admins."""

from __future__ import annotations

from facturier.adapters.payment_terms import PaymentTermsStore
from facturier.domain.payment_terms import DEFAULT_PAYMENT_DAYS
from facturier.services.application.principals import (
    ApiRole,
    Principal,
    StructureForbidden,
    structure_reader,
)

MIN_PAYMENT_DAYS, MAX_PAYMENT_DAYS = 1, 365


class PaymentTerms:
    def __init__(self, store: PaymentTermsStore) -> None:
        self.store = store

    def days(self, caller: Principal, siret: str) -> int:
        structure_reader(caller, siret)
        found = self.store.get(siret)
        return DEFAULT_PAYMENT_DAYS if found is None else found

    def set(self, caller: Principal, siret: str, days: int) -> None:
        if caller.role is not ApiRole.ADMIN:
            raise StructureForbidden("only an admin sets payment terms")
        structure_reader(caller, siret)
        if not MIN_PAYMENT_DAYS <= days <= MAX_PAYMENT_DAYS:
            raise ValueError(f"payment days between {MIN_PAYMENT_DAYS} and {MAX_PAYMENT_DAYS}")
        self.store.set(siret, days, caller.actor)
