"""The Structure aggregate and the routing check, in memory."""

from __future__ import annotations

import pytest

from facturier.domain.directory import (
    Structure,
    StructureKind,
    check_routing,
    structure_id,
)
from facturier.domain.model import InvalidCommand, ReasonCode
from tests.support.data import BUYER, OTHER_BUYER

LA_POSTE = "35600000000048"  # La Poste: digit sum divisible by 5, not Luhn


def structure(**settings: bool) -> Structure:
    s = Structure(siret=BUYER, name="Ministère X", kind="state", actor="admin", **settings)
    s.add_service(code="SERV-1", name="Service facturier", actor="admin")
    return s


def codes(s: Structure | None, service: str = "SERV-1", ej: str = "", siret: str = BUYER):
    return [f.reason_code for f in check_routing(s, siret, service, ej)]


def test_id_is_derived_from_the_siret() -> None:
    s = Structure(siret="110 002 011 00044", name="X", kind="local", actor="a")
    assert s.id == structure_id(BUYER) == Structure.create_id(BUYER)
    assert s.siret == BUYER
    assert s.kind is StructureKind.LOCAL
    assert structure_id(BUYER) != structure_id(OTHER_BUYER)


def test_registration_validates_its_arguments() -> None:
    with pytest.raises(InvalidCommand) as error:
        Structure(siret="11000201100045", name="X", kind="state", actor="a")
    assert error.value.field == "siret"
    with pytest.raises(InvalidCommand, match="kind"):
        Structure(siret=BUYER, name="X", kind="ministry", actor="a")
    with pytest.raises(InvalidCommand, match="name"):
        Structure(siret=BUYER, name="  ", kind="state", actor="a")
    assert Structure(siret=LA_POSTE, name="La Poste", kind="other", actor="a").siret == LA_POSTE


def test_commands_record_events_and_guard_their_state() -> None:
    s = structure()
    s.add_service(code="SERV-2", name="Autre", actor="a")
    s.deactivate_service(code="SERV-2", actor="a")
    s.rename_service(code="SERV-1", name="Service facturier central", actor="a")
    s.register_order_reference(order_reference="EJ00000001", actor="a")
    s.deactivate(actor="a", reason="merged")
    s.activate(actor="a")
    names = [type(e).__name__ for e in s.collect_events()]
    assert names == [
        "Registered",
        "ServiceAdded",
        "ServiceAdded",
        "ServiceDeactivated",
        "ServiceRenamed",
        "OrderReferenceRegistered",
        "Deactivated",
        "Activated",
    ]
    assert s.services["SERV-1"].name == "Service facturier central"
    assert not s.services["SERV-2"].active
    for command in (
        lambda: s.add_service(code="SERV-1", name="again", actor="a"),
        lambda: s.deactivate_service(code="NOPE", actor="a"),
        lambda: s.activate_service(code="SERV-1", actor="a"),
        lambda: s.register_order_reference(order_reference="EJ00000001", actor="a"),
        lambda: s.register_order_reference(order_reference="E" * 51, actor="a"),
        lambda: s.activate(actor="a"),
    ):
        with pytest.raises(InvalidCommand):
            command()
    assert s.collect_events() == []  # a refused command records nothing


def test_replaying_the_events_rebuilds_the_structure() -> None:
    s = structure(service_code_required=True)
    s.register_order_reference(order_reference="EJ1", actor="a")
    s.deactivate_service(code="SERV-1", actor="a")
    events = s.collect_events()
    copy: Structure | None = None
    for e in events:
        copy = e.mutate(copy)  # type: ignore[arg-type]
    assert copy is not None
    assert copy.services == s.services
    assert copy.order_references == {"EJ1"}
    assert copy.service_code_required and copy.version == s.version


def test_a_routable_invoice_has_no_findings() -> None:
    assert check_routing(structure(), BUYER, "SERV-1", "EJ00000001") == []
    assert check_routing(structure(), BUYER, "", "") == []  # nothing required


def test_invalid_recipient_siret_is_siret_err() -> None:
    [finding] = check_routing(None, "11000201100045", "SERV-1", "")
    assert finding.reason_code is ReasonCode.SIRET_ERR
    assert finding.field == "recipient_siret"


def test_unknown_recipient_is_dest_inc() -> None:
    [finding] = check_routing(None, BUYER, "SERV-1", "")
    assert finding.reason_code is ReasonCode.DEST_INC
    assert BUYER in finding.message


def test_inactive_recipient_is_dest_inc() -> None:
    s = structure()
    s.deactivate(actor="a")
    [finding] = check_routing(s, BUYER, "SERV-1", "")
    assert (finding.reason_code, finding.field) == (ReasonCode.DEST_INC, "recipient_siret")
    assert "inactive" in finding.message


def test_service_code_unknown_inactive_or_missing_is_code_routage_err() -> None:
    s = structure(service_code_required=True)
    s.add_service(code="OLD", name="Fermé", actor="a")
    s.deactivate_service(code="OLD", actor="a")
    for code in ("NOPE", "OLD", "", "  "):
        [finding] = check_routing(s, BUYER, code, "")
        assert (finding.reason_code, finding.field) == (ReasonCode.CODE_ROUTAGE_ERR, "service_code")
    # A code the structure does not know is wrong even when no code is required.
    assert codes(structure(), service="NOPE") == [ReasonCode.CODE_ROUTAGE_ERR]


def test_missing_required_order_reference_is_ref_ct_absent() -> None:
    s = structure(order_reference_required=True)
    [finding] = check_routing(s, BUYER, "SERV-1", " ")
    assert (finding.reason_code, finding.field) == (ReasonCode.REF_CT_ABSENT, "order_reference")
    assert codes(s, ej="EJ00000001") == []


def test_service_code_or_order_reference_required() -> None:
    s = structure(service_code_or_order_reference_required=True)
    assert codes(s, service="", ej="") == [ReasonCode.REF_CT_ABSENT]
    assert codes(s, service="SERV-1", ej="") == []
    assert codes(s, service="", ej="EJ00000001") == []


def test_unknown_order_reference_is_cmd_err_when_the_structure_keeps_a_list() -> None:
    s = structure()
    assert codes(s, ej="ANY") == []  # no list kept: any EJ goes
    s.register_order_reference(order_reference="EJ00000001", actor="a")
    assert codes(s, ej="EJ00000001") == []
    [finding] = check_routing(s, BUYER, "SERV-1", "EJ00000002")
    assert (finding.reason_code, finding.field) == (ReasonCode.CMD_ERR, "order_reference")


def test_every_problem_is_reported_at_once() -> None:
    s = structure(service_code_required=True, order_reference_required=True)
    assert codes(s, service="", ej="") == [ReasonCode.CODE_ROUTAGE_ERR, ReasonCode.REF_CT_ABSENT]


def test_a_structure_of_another_siret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="looked up"):
        check_routing(structure(), OTHER_BUYER, "SERV-1", "")
