"""The buyers' directory on the real PostgreSQL: loading files, and routing submissions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from facturier.config.settings import Settings
from facturier.domain.lifecycle import Action, Status
from facturier.domain.model import InvalidInvoice, ReasonCode, SubmissionMode
from facturier.services.application.directory import (
    DirectoryApp,
    DirectoryFileError,
    StructureAlreadyRegistered,
    names,
    search,
    service_names,
)
from facturier.services.application.invoicing import InvoicingApp, RoutingRefused
from tests.support.data import BUYER, OTHER_BUYER, invoice_data

pytestmark = pytest.mark.stack

HOSPITAL = "26750045200011"
CLOSED = "21690123100011"


def write_csv(tmp_path: Path) -> tuple[Path, Path, Path]:
    structures = tmp_path / "structures.csv"
    structures.write_text(
        "siret;name;kind;active;service_code_required;order_reference_required\n"
        f"{BUYER};Ministère X;state;oui;oui;non\n"
        f"{OTHER_BUYER};Ville de Paris;local;true;false;true\n"
        f"{CLOSED};Syndicat dissous;local;false;;\n",
        encoding="utf-8",
    )
    services = tmp_path / "services.csv"
    services.write_text(
        "siret;code;name;active\n"
        f"{BUYER};SERV-1;Service facturier;1\n"
        f"{BUYER};OLD;Ancien service;0\n"
        f"{OTHER_BUYER};SERV-1;Direction des finances;\n",
        encoding="utf-8",
    )
    references = tmp_path / "ej.csv"
    references.write_text(f"siret,order_reference\n{OTHER_BUYER},EJ00000001\n", encoding="utf-8")
    return structures, services, references


def write_json(tmp_path: Path) -> Path:
    path = tmp_path / "directory.json"
    document = {
        "structures": [
            {
                "siret": HOSPITAL,
                "name": "Hôpital Y",
                "kind": "hospital",
                "service_code_or_order_reference_required": True,
                "services": [{"code": "PHARMA", "name": "Pharmacie"}],
                "order_references": ["EJ-H-1", "EJ-H-2"],
            }
        ]
    }
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def apps(settings: Settings, tmp_path: Path) -> Iterator[tuple[DirectoryApp, InvoicingApp]]:
    directory = DirectoryApp(settings.postgres)
    directory.load_csv(*write_csv(tmp_path))
    directory.load_json(write_json(tmp_path))
    invoicing = InvoicingApp(settings.postgres, directory=directory)
    try:
        yield directory, invoicing
    finally:
        invoicing.close()
        directory.close()


def test_loading_files_is_idempotent_and_records_changes_only(
    settings: Settings, tmp_path: Path
) -> None:
    directory = DirectoryApp(settings.postgres)
    try:
        csv_files = write_csv(tmp_path)
        first = directory.load_csv(*csv_files)
        assert (first.registered, first.changed, first.unchanged) == (3, 0, 0)
        # Registered + services + EJ, and a Deactivated for the inactive structure.
        assert first.events == 3 + 3 + 1 + 1 + 1
        second_json = directory.load_json(write_json(tmp_path))
        assert second_json.registered == 1
        head = directory.recorder.max_notification_id()

        again = directory.load_csv(*csv_files)
        again_json = directory.load_json(write_json(tmp_path))
        assert (again.events, again.unchanged, again_json.events) == (0, 3, 0)
        assert directory.recorder.max_notification_id() == head

        buyer = directory.get(BUYER)
        assert buyer.service_code_required and not buyer.order_reference_required
        assert {c: s.active for c, s in buyer.services.items()} == {"SERV-1": True, "OLD": False}
        assert not directory.get(CLOSED).active
        hospital = directory.get(HOSPITAL)
        assert hospital.order_references == {"EJ-H-1", "EJ-H-2"}
        assert hospital.service_code_or_order_reference_required

        # A changed file records only the differences.
        structures, services, references = csv_files
        services.write_text(
            services.read_text(encoding="utf-8").replace("OLD;Ancien service;0", "OLD;Ancien;1"),
            encoding="utf-8",
        )
        changed = directory.load_csv(structures, services, references)
        assert (changed.changed, changed.events, changed.sirets) == (1, 2, [BUYER])
        assert [type(e).__name__ for e in directory.events.get(buyer.id)][-2:] == [
            "ServiceRenamed",
            "ServiceActivated",
        ]
    finally:
        directory.close()


def test_a_wrong_file_loads_nothing(settings: Settings, tmp_path: Path) -> None:
    directory = DirectoryApp(settings.postgres)
    try:
        structures, services, _ = write_csv(tmp_path)
        structures.write_text(
            structures.read_text(encoding="utf-8") + "11000201100045;Faux;state;;;\n",
            encoding="utf-8",
        )
        with pytest.raises(DirectoryFileError, match="11000201100045"):
            directory.load_csv(structures, services)
        bad_kind = tmp_path / "bad.json"
        bad_kind.write_text(
            json.dumps({"structures": [{"siret": BUYER, "name": "X", "kind": "k"}]})
        )
        with pytest.raises(DirectoryFileError, match="kind"):
            directory.load_json(bad_kind)
        assert directory.recorder.max_notification_id() in (None, 0)
        assert directory.find(BUYER) is None
    finally:
        directory.close()


def test_admin_commands(settings: Settings) -> None:
    directory = DirectoryApp(settings.postgres)
    try:
        directory.register(BUYER, "Ministère X", "state", service_code_required=True)
        with pytest.raises(StructureAlreadyRegistered):
            directory.register(BUYER, "Ministère X bis", "state")
        directory.add_service(BUYER, "SERV-1", "Service facturier")
        directory.register_order_reference(BUYER, "EJ00000001")
        assert directory.check(BUYER, "SERV-1", "EJ00000001") == []
        directory.deactivate_service(BUYER, "SERV-1")
        assert [f.reason_code for f in directory.check(BUYER, "SERV-1", "EJ00000001")] == [
            ReasonCode.CODE_ROUTAGE_ERR
        ]
        directory.deactivate(BUYER, reason="merged")
        assert [f.reason_code for f in directory.check(BUYER, "SERV-1", "")] == [
            ReasonCode.DEST_INC
        ]
        assert directory.find(OTHER_BUYER) is None
    finally:
        directory.close()


def test_the_read_side_follows_the_directory_and_catches_up_when_left_behind(
    settings: Settings, tmp_path: Path
) -> None:
    """What the portal shows and searches (names, services, search words) follows every
    load and command, and a process that saved events but died before indexing them leaves
    the read side behind only until the directory application starts again."""

    def offered(conn: psycopg.Connection[Any], text: str) -> list[tuple[str, str]]:
        return [(m.siret, m.service_code) for m in search(conn, text)]

    directory = DirectoryApp(settings.postgres)
    try:
        directory.load_csv(*write_csv(tmp_path))
        with psycopg.connect(settings.postgres.dsn) as conn:
            assert names(conn, [BUYER, OTHER_BUYER, CLOSED, HOSPITAL]) == {
                BUYER: "Ministère X",
                OTHER_BUYER: "Ville de Paris",
                CLOSED: "Syndicat dissous",  # still named on its old invoices
            }
            assert service_names(conn, [(BUYER, "SERV-1"), (BUYER, "OLD"), (BUYER, "")]) == {
                (BUYER, "SERV-1"): "Service facturier",
                (BUYER, "OLD"): "Ancien service",
            }
            # A service code is required there: its active services only, never itself.
            assert offered(conn, "ministere") == [(BUYER, "SERV-1")]
            assert offered(conn, "syndicat") == []  # inactive: never offered
            paris = search(conn, "paris")
            assert [(m.siret, m.service_code) for m in paris] == [
                (OTHER_BUYER, ""),
                (OTHER_BUYER, "SERV-1"),
            ]
            assert all(m.order_reference_required for m in paris)
        directory.change_settings(
            OTHER_BUYER, "Ville de Paris, mairie centrale", "local", False, True
        )
        directory.deactivate_service(BUYER, "SERV-1")
        with psycopg.connect(settings.postgres.dsn) as conn:
            assert offered(conn, "mairie centrale") == [(OTHER_BUYER, ""), (OTHER_BUYER, "SERV-1")]
            assert offered(conn, "ministere") == [(BUYER, "")]  # no active service left
            # As a process killed between its save and its indexing leaves it.
            conn.execute("UPDATE directory_index_position SET notification_id = 0")
            conn.execute("DELETE FROM directory_structure")
    finally:
        directory.close()
    restarted = DirectoryApp(settings.postgres)
    try:
        with psycopg.connect(settings.postgres.dsn) as conn:
            assert names(conn, [OTHER_BUYER]) == {OTHER_BUYER: "Ville de Paris, mairie centrale"}
            assert offered(conn, "ville") == [(OTHER_BUYER, ""), (OTHER_BUYER, "SERV-1")]
        assert restarted.catch_up_index() == 0  # nothing new
    finally:
        restarted.close()


def test_the_in_memory_read_side_answers_every_search_as_postgresql_does(
    settings: Settings, tmp_path: Path
) -> None:
    """The application's in-memory tests search an in-memory read side: the same files
    loaded into both give the same answer to each search."""
    files = write_csv(tmp_path)
    stored, in_memory = DirectoryApp(settings.postgres), DirectoryApp()
    try:
        for directory in (stored, in_memory):
            directory.load_csv(*files)
            directory.load_json(write_json(tmp_path))
            directory.deactivate_service(BUYER, "SERV-1")
            directory.add_service(OTHER_BUYER, "SE-FACT-01", "Service facturier")
        searches = ["ministere", "paris", "Ville  de", "serv", "sefact01", "se-fact", "hop"]
        searches += [BUYER, BUYER[:9], "11000 2011", "facturier", "m", "mi", "zz", "%", ""]
        for text in searches:
            assert stored.search(text) == in_memory.search(text), text
        assert any(stored.search(text) for text in searches)
    finally:
        stored.close()


def test_submissions_are_routed_or_refused_with_their_code(
    apps: tuple[DirectoryApp, InvoicingApp],
) -> None:
    _, app = apps
    accepted = [
        invoice_data("OK-1"),  # service code required and given
        replace(invoice_data("OK-2", buyer=OTHER_BUYER), order_reference="EJ00000001"),
        replace(invoice_data("OK-3", buyer=HOSPITAL), service_code="", order_reference="EJ-H-1"),
    ]
    for data in accepted:
        assert app.submit(data, SubmissionMode.PORTAL, "s").status is Status.MISE_A_DISPOSITION
    head = app.recorder.max_notification_id()

    refused = {
        "DEST_INC unknown": (invoice_data("R-1", buyer="54205118000066"), ReasonCode.DEST_INC),
        "DEST_INC inactive": (invoice_data("R-2", buyer=CLOSED), ReasonCode.DEST_INC),
        "unknown service": (
            replace(invoice_data("R-3"), service_code="X"),
            ReasonCode.CODE_ROUTAGE_ERR,
        ),
        "inactive service": (
            replace(invoice_data("R-4"), service_code="OLD"),
            ReasonCode.CODE_ROUTAGE_ERR,
        ),
        "missing service": (
            replace(invoice_data("R-5"), service_code=""),
            ReasonCode.CODE_ROUTAGE_ERR,
        ),
        "missing EJ": (
            replace(invoice_data("R-6", buyer=OTHER_BUYER), order_reference=""),
            ReasonCode.REF_CT_ABSENT,
        ),
        "neither": (
            replace(invoice_data("R-7", buyer=HOSPITAL), service_code="", order_reference=""),
            ReasonCode.REF_CT_ABSENT,
        ),
        "unknown EJ": (
            replace(invoice_data("R-8", buyer=OTHER_BUYER), order_reference="EJ99"),
            ReasonCode.CMD_ERR,
        ),
    }
    for case, (data, code) in refused.items():
        with pytest.raises(RoutingRefused) as error:
            app.submit(data, SubmissionMode.PORTAL, "s")
        assert error.value.reason_code is code, case
        assert [f.reason_code for f in error.value.findings] == [code], case
    # An invalid SIRET is still the invoice's own check, as without a directory.
    with pytest.raises(InvalidInvoice) as invalid:
        app.submit(invoice_data("R-9", buyer="11000201100045"), SubmissionMode.PORTAL, "s")
    assert invalid.value.reason_code is ReasonCode.SIRET_ERR

    # A batch with one refused invoice records nothing and names each refused one.
    batch = [
        (invoice_data("B-1"), SubmissionMode.EDI, "s", ""),
        (invoice_data("B-2", buyer=CLOSED), SubmissionMode.EDI, "s", ""),
        (replace(invoice_data("B-3"), service_code="X"), SubmissionMode.EDI, "s", ""),
    ]
    with pytest.raises(RoutingRefused) as batch_error:
        app.submit_many(batch)
    assert [(d.number, [f.reason_code for f in fs]) for d, fs in batch_error.value.refusals] == [
        ("B-2", [ReasonCode.DEST_INC]),
        ("B-3", [ReasonCode.CODE_ROUTAGE_ERR]),
    ]
    assert app.recorder.max_notification_id() == head
    assert len(app.submit_many(batch[:1])) == 1


def test_rerouting_is_checked_against_the_directory(
    apps: tuple[DirectoryApp, InvoicingApp],
) -> None:
    _, app = apps
    invoice = app.submit(invoice_data("RR-1"), SubmissionMode.PORTAL, "s")
    app.act(invoice.id, Action.MARK_FOR_REROUTING, reason="wrong service", actor="buyer")
    head = app.recorder.max_notification_id()
    with pytest.raises(RoutingRefused) as error:
        app.act(
            invoice.id,
            Action.REROUTE,
            recipient_siret=OTHER_BUYER,
            service_code="SERV-1",
            order_reference="",
            actor="s",
        )
    assert error.value.reason_code is ReasonCode.REF_CT_ABSENT
    assert app.recorder.max_notification_id() == head
    assert app.get(invoice.id).status is Status.A_RECYCLER
    rerouted = app.act(
        invoice.id,
        Action.REROUTE,
        recipient_siret=OTHER_BUYER,
        service_code="SERV-1",
        order_reference="EJ00000001",
        actor="s",
    )
    assert rerouted.status is Status.MISE_A_DISPOSITION


def test_without_a_directory_nothing_is_checked(settings: Settings) -> None:
    app = InvoicingApp(settings.postgres)
    try:
        data = invoice_data("ND-1", buyer="54205118000066")  # in no directory
        assert app.submit(data, SubmissionMode.PORTAL, "s").status is Status.MISE_A_DISPOSITION
    finally:
        app.close()
