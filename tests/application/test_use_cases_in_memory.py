"""The application layer's use cases on the eventsourcing library's in-memory (plain-object)
store: no PostgreSQL, no Kafka. The same use cases run against the real ones in
tests/integration; here each rule of the service layer is checked in milliseconds."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from facturier.domain.lifecycle import Action, LifecycleError, Status
from facturier.domain.model import InvoiceKind, SubmissionMode
from facturier.services.application.actions import (
    ActionForbidden,
    RejectIn,
    arguments,
    available,
    body_of,
    perform,
)
from facturier.services.application.directory import DirectoryApp
from facturier.services.application.directory_files import ServiceSpec, StructureSpec
from facturier.services.application.invoicing import (
    DuplicateInvoice,
    InvoiceNotFound,
    InvoicingApp,
    RoutingRefused,
)
from facturier.services.application.principals import ApiRole, Principal
from facturier.services.application.receipts import NotReceived, receipt
from tests.support.data import BUYER, OTHER_BUYER, SUPPLIER, invoice_data

SUPPLIER_CALLER = Principal(ApiRole.SUPPLIER, SUPPLIER, "supplier")
BUYER_CALLER = Principal(ApiRole.BUYER, BUYER, "buyer service")


@pytest.fixture
def app() -> InvoicingApp:
    return InvoicingApp()  # no settings: the library's in-memory store


def test_a_submission_is_recorded_delivered_and_read_back(app: InvoicingApp) -> None:
    invoice = app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, SUPPLIER_CALLER.actor, "c-1")
    assert invoice.status == Status.MISE_A_DISPOSITION
    again = app.get(invoice.id)
    assert (again.status, again.version, again.data.number) == (invoice.status, 3, "F-1")
    names = [type(e).__name__ for e in app.history(invoice.id)]
    assert names == ["Submitted", "Routed", "MadeAvailable"]


def test_the_same_invoice_twice_is_a_duplicate_and_unknown_ids_are_not_found(
    app: InvoicingApp,
) -> None:
    invoice = app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, SUPPLIER_CALLER.actor)
    with pytest.raises(DuplicateInvoice):
        app.submit(invoice_data("F-1"), SubmissionMode.EDI, SUPPLIER_CALLER.actor)
    assert app.submit(invoice_data("F-2"), SubmissionMode.PORTAL, "x").id != invoice.id
    with pytest.raises(InvoiceNotFound):
        app.get(uuid.uuid4())


def test_a_buyer_drives_an_invoice_to_payment_and_each_step_is_authorised(
    app: InvoicingApp,
) -> None:
    invoice = app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, SUPPLIER_CALLER.actor)
    assert available(SUPPLIER_CALLER, invoice.status) == []
    assert Action.TAKE_IN_HAND in available(BUYER_CALLER, invoice.status)
    with pytest.raises(ActionForbidden):
        perform(app, invoice.id, Action.TAKE_IN_HAND, {}, SUPPLIER_CALLER, "c")
    # Each action's arguments read by its own model, as the API and the portal read them.
    for action, raw in (
        (Action.TAKE_IN_HAND, {}),
        (Action.CERTIFY_SERVICE_DONE, {}),
        (Action.ORDER_PAYMENT, {"payment_order_number": "MP-1"}),
        (
            Action.PAY,
            {"amount": "120.00", "payment_date": "2026-12-01", "payment_reference": "V-1"},
        ),
    ):
        params = arguments(body_of(action).model_validate(raw))
        done = perform(app, invoice.id, action, params, BUYER_CALLER, "c")
    assert done.status == Status.MISE_EN_PAIEMENT
    assert app.get(invoice.id).status == Status.MISE_EN_PAIEMENT
    with pytest.raises(LifecycleError):  # nothing follows a payment
        perform(app, invoice.id, Action.TAKE_IN_HAND, {}, BUYER_CALLER, "c")


def test_a_rejection_is_final_and_states_its_reason(app: InvoicingApp) -> None:
    invoice = app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, SUPPLIER_CALLER.actor)
    body = RejectIn(reason_code="NON_CONFORME", reason="no order matches")
    rejected = perform(app, invoice.id, Action.REJECT, arguments(body), BUYER_CALLER, "c")
    assert rejected.status == Status.REJETEE
    assert available(BUYER_CALLER, rejected.status) == []
    last = app.history(invoice.id)[-1]
    assert (type(last).__name__, last.reason) == ("Rejected", "no order matches")


def test_an_earlier_state_is_read_as_of_a_moment(app: InvoicingApp) -> None:
    invoice = app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, SUPPLIER_CALLER.actor)
    delivered_at = app.history(invoice.id)[-1].timestamp
    perform(app, invoice.id, Action.TAKE_IN_HAND, {}, BUYER_CALLER, "c")
    assert app.as_of(invoice.id, delivered_at).status == Status.MISE_A_DISPOSITION
    assert app.get(invoice.id).status == Status.PRISE_EN_COMPTE_DESTINATAIRE


def test_the_receipt_is_stable_and_a_new_one_follows_a_rerouting(app: InvoicingApp) -> None:
    invoice = app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, SUPPLIER_CALLER.actor)
    first = receipt(app, app.get(invoice.id))
    assert receipt(app, app.get(invoice.id)) == first
    assert (first["number"], first["kind"], first["gross_amount"]) == (
        "F-1",
        InvoiceKind.INVOICE,
        Decimal("120.00"),
    )
    perform(
        app,
        invoice.id,
        Action.MARK_FOR_REROUTING,
        {"reason": "not ours", "reason_code": "DEST_ERR"},
        BUYER_CALLER,
        "c",
    )
    with pytest.raises(NotReceived):  # awaiting its new recipient
        receipt(app, app.get(invoice.id))
    perform(
        app,
        invoice.id,
        Action.REROUTE,
        {"recipient_siret": OTHER_BUYER, "service_code": "", "order_reference": ""},
        SUPPLIER_CALLER,
        "c",
    )
    second = receipt(app, app.get(invoice.id))
    assert second["receipt_id"] != first["receipt_id"]
    assert second["recipient"]["siret"] == OTHER_BUYER


def test_the_directory_routes_what_it_knows_and_refuses_the_rest() -> None:
    directory = DirectoryApp()  # in memory: the library's store, an in-memory read side
    spec = StructureSpec(
        BUYER,
        "Structure publique",
        "state",
        service_code_required=True,
        services=(ServiceSpec("SERV-1", "Comptabilité"),),
    )
    report = directory.load([spec])
    assert (report.registered, report.unchanged) == (1, 0)
    assert (
        directory.load(
            [
                StructureSpec(
                    BUYER,
                    "Structure publique",
                    "state",
                    service_code_required=True,
                    services=(ServiceSpec("SERV-1", "Comptabilité"),),
                )
            ]
        ).unchanged
        == 1
    )
    app = InvoicingApp(directory=directory)
    assert app.submit(invoice_data("F-1"), SubmissionMode.PORTAL, "s").status == (
        Status.MISE_A_DISPOSITION
    )
    with pytest.raises(RoutingRefused) as refused:
        app.submit(invoice_data("F-2", buyer=OTHER_BUYER), SubmissionMode.PORTAL, "s")
    assert refused.value.findings
