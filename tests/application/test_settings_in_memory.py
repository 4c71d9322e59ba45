"""What suppliers, buyers and admins set beside the invoices — e-mail subscriptions, a
structure's payment terms — and the buyer search of the invoice form, on in-memory stores:
the same use cases the API and the portal call, with their rules of who may."""

from __future__ import annotations

import pytest

from facturier.adapters.payment_terms import MemoryPaymentTerms
from facturier.adapters.subscriptions import MemorySubscriptions
from facturier.domain.subscriptions import DEFAULT_STATUSES, InvalidSubscription
from facturier.services.application.directory import DirectoryApp
from facturier.services.application.directory_files import ServiceSpec, StructureSpec
from facturier.services.application.payment_terms import PaymentTerms
from facturier.services.application.principals import (
    ApiRole,
    NotASiret,
    Principal,
    StructureForbidden,
)
from facturier.services.application.subscriptions import (
    SubscriptionForbidden,
    Subscriptions,
    subscription_view,
)
from tests.support.data import BUYER, OTHER_BUYER, OTHER_SUPPLIER, SUPPLIER

SUPPLIER_CALLER = Principal(ApiRole.SUPPLIER, SUPPLIER, "supplier")
ADMIN = Principal(ApiRole.ADMIN, "*", "ops")
AUDITOR = Principal(ApiRole.AUDITOR, "*", "audit")
BUYER_CALLER = Principal(ApiRole.BUYER, BUYER, "buyer")


def test_a_supplier_subscribes_changes_and_unsubscribes_its_own_e_mails() -> None:
    store = MemorySubscriptions()
    subscriptions = Subscriptions(store)
    assert subscriptions.get(SUPPLIER_CALLER, SUPPLIER) is None
    assert subscription_view(SUPPLIER, None)["statuses"] == list(DEFAULT_STATUSES)

    made = subscriptions.subscribe(SUPPLIER_CALLER, SUPPLIER, " compta@durand.example ")
    assert (made.email, made.statuses) == ("compta@durand.example", DEFAULT_STATUSES)
    assert store.kept[SUPPLIER][1] == SUPPLIER_CALLER.actor  # who changed it is kept

    # Typed in any order, kept in the lifecycle's; the language is checked.
    changed = subscriptions.subscribe(
        SUPPLIER_CALLER, SUPPLIER, "a@b.example", ["paid", "rejected", "paid"], "en"
    )
    assert changed.statuses == ("rejected", "paid")
    assert subscriptions.get(SUPPLIER_CALLER, SUPPLIER) == changed
    assert subscription_view(SUPPLIER, changed)["subscribed"] is True

    assert subscriptions.unsubscribe(SUPPLIER_CALLER, SUPPLIER) is True
    assert subscriptions.unsubscribe(SUPPLIER_CALLER, SUPPLIER) is False
    assert subscriptions.get(SUPPLIER_CALLER, SUPPLIER) is None


@pytest.mark.parametrize(
    ("email", "statuses", "language", "field"),
    [
        ("not an address", None, "fr", "email"),
        ("a@b.example, c@d.example", None, "fr", "email"),
        ("a@b.example", ["lost"], "fr", "statuses"),
        ("a@b.example", None, "xx", "language"),
    ],
)
def test_a_subscription_that_does_not_parse_names_its_field_and_keeps_nothing(
    email: str, statuses: list[str] | None, language: str, field: str
) -> None:
    store = MemorySubscriptions()
    with pytest.raises(InvalidSubscription) as invalid:
        Subscriptions(store).subscribe(SUPPLIER_CALLER, SUPPLIER, email, statuses, language)
    assert invalid.value.field == field
    assert store.kept == {}


def test_only_the_supplier_itself_and_admins_manage_its_e_mails() -> None:
    subscriptions = Subscriptions(MemorySubscriptions())
    subscriptions.subscribe(ADMIN, SUPPLIER, "ops@platform.example")
    for caller in (
        Principal(ApiRole.SUPPLIER, OTHER_SUPPLIER, "other"),
        BUYER_CALLER,
        AUDITOR,
        Principal(ApiRole.OPERATOR, SUPPLIER, "operator"),
    ):
        with pytest.raises(SubscriptionForbidden):
            subscriptions.get(caller, SUPPLIER)
        with pytest.raises(SubscriptionForbidden):
            subscriptions.subscribe(caller, SUPPLIER, "x@y.example")
        with pytest.raises(SubscriptionForbidden):
            subscriptions.unsubscribe(caller, SUPPLIER)
    found = subscriptions.get(SUPPLIER_CALLER, SUPPLIER)
    assert found is not None and found.email == "ops@platform.example"


def test_payment_terms_are_thirty_days_until_an_admin_sets_others() -> None:
    store = MemoryPaymentTerms()
    terms = PaymentTerms(store)
    assert terms.days(BUYER_CALLER, BUYER) == 30
    terms.set(ADMIN, BUYER, 50)
    assert [terms.days(c, BUYER) for c in (BUYER_CALLER, AUDITOR, ADMIN)] == [50, 50, 50]
    assert store.kept[BUYER] == (50, ADMIN.actor)
    assert terms.days(ADMIN, OTHER_BUYER) == 30  # one structure's terms, not the others'


def test_payment_terms_are_read_by_their_structure_and_set_by_admins_only() -> None:
    terms = PaymentTerms(MemoryPaymentTerms())
    with pytest.raises(StructureForbidden):
        terms.days(Principal(ApiRole.BUYER, OTHER_BUYER, "other buyer"), BUYER)
    with pytest.raises(StructureForbidden):
        terms.days(SUPPLIER_CALLER, BUYER)
    for caller in (BUYER_CALLER, AUDITOR, SUPPLIER_CALLER):
        with pytest.raises(StructureForbidden):
            terms.set(caller, BUYER, 45)
    with pytest.raises(NotASiret):
        terms.set(ADMIN, "11000201100045", 45)  # fails the Luhn check
    assert terms.days(ADMIN, BUYER) == 30


def test_the_buyer_search_finds_by_name_siret_and_service_and_follows_changes() -> None:
    directory = DirectoryApp()
    directory.load(
        [
            StructureSpec(
                BUYER,
                "Ministère X",
                "state",
                service_code_required=True,
                services=(ServiceSpec("SE-FACT-01", "Service facturier"),),
            ),
            StructureSpec(OTHER_BUYER, "Ville de Paris", "local", order_reference_required=True),
        ]
    )

    def offered(text: str) -> list[tuple[str, str]]:
        return [(m.siret, m.service_code) for m in directory.search(text)]

    # A service code is required at the ministry: its service is offered, never itself.
    assert offered("ministere") == [(BUYER, "SE-FACT-01")]
    assert offered("sefact01") == offered("se fact") == [(BUYER, "SE-FACT-01")]
    assert offered("11000 201100044") == [(BUYER, "SE-FACT-01")]
    assert offered("ville par") == [(OTHER_BUYER, "")]
    assert directory.search("paris")[0].order_reference_required is True
    assert offered("p") == offered("zz") == []  # too short; nothing

    directory.deactivate_service(BUYER, "SE-FACT-01")
    directory.change_settings(OTHER_BUYER, "Mairie de Paris", "local", False, False)
    assert offered("ministere") == [(BUYER, "")]  # no active service left: itself
    assert offered("ville") == [] and offered("mairie") == [(OTHER_BUYER, "")]
    directory.deactivate(BUYER)
    assert offered("ministere") == []  # a closed structure is never offered
