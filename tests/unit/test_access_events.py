"""The access topic's contract: every account and organisation event encodes to Avro with the
CloudEvents headers and decodes back; identifiers and rights travel, secrets and people's
names and addresses never do — whatever the event."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from facturier.domain.accounts import Account
from facturier.domain.organisations import Organisation, Space
from facturier.events.access import from_value, to_message

NOW = datetime(2026, 12, 6, 9, tzinfo=UTC)
SUPPLIER, OPERATOR = "73282932000074", "44306184100047"
# Every secret or personal value the aggregates below hold.
SECRETS = {
    "login": "marie.secret@durand.example",
    "contact": "contact.secret@durand.example",
    "name": "Marie Secretname",
    "link": "1" * 64,
    "password": "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$c2VjcmV0aGFzaA",
    "seed": "JBSWY3DPEHPK3PXPSECRETSEED",
    "recovery": "2" * 64,
    "code": "3" * 64,
    "reset": "4" * 64,
    "address": "203.0.113.77",
    "agent": "SecretBrowser/1.0",
    "client secret": "5" * 64,
    "renewed secret": "6" * 64,
    "note": "a secret note to the managers",
}


def events() -> list[Any]:
    s = SECRETS
    marie = Account.register(s["login"], s["contact"], s["name"], "fr", s["link"], NOW)
    marie.activate(s["link"], s["password"], NOW)
    marie.start_totp(s["seed"])
    marie.confirm_totp(1000, (s["recovery"],))
    marie.issue_email_code(s["code"], NOW)
    marie.email_code_failed()
    marie.signed_in("totp", NOW, s["address"], step=1001)
    marie.request_reset(s["reset"], NOW)
    marie.reset_password(s["reset"], s["password"], NOW)
    marie.accept_terms(1, "7" * 64, NOW, s["address"], s["agent"])
    paul = Account.register("paul@x.example", "", "Paul", "fr", "8" * 64, NOW)
    durand = Organisation.create("siret", SUPPLIER, "Durand", False, marie.id, s["name"], NOW)
    marie.link_organisation(str(durand.id), "member")
    durand.ask_to_join(paul.id, s["name"], NOW, s["note"])
    durand.decide_join(marie.id, str(paul.id), True)
    durand.grant(marie.id, str(paul.id), Space.MANAGER)
    durand.withdraw(marie.id, str(paul.id), Space.MANAGER)
    durand.copy_rights(marie.id, str(marie.id), str(paul.id))
    durand.transfer_principal(marie.id, str(paul.id))
    durand.transfer_principal(paul.id, str(marie.id))
    durand.sign_mandate(marie.id, 1, "9" * 64, NOW, s["address"], s["agent"])
    durand.revoke_mandate(marie.id, NOW)
    durand.sign_mandate(marie.id, 1, "9" * 64, NOW, s["address"], s["agent"])
    durand.mandate_operator(marie.id, str(uuid.uuid4()), OPERATOR, ["edi"], date(2026, 12, 6), NOW)
    durand.create_technical_account(
        marie.id, "fcc_1", "ERP", s["client secret"], ["invoices-issued"], NOW
    )
    durand.renew_technical_account(marie.id, "fcc_1", s["renewed secret"], NOW + timedelta(1))
    durand.technical_account_reminded("fcc_1")
    durand.revoke_technical_account(marie.id, "fcc_1", NOW)
    durand.leave(paul.id)
    return [*marie.collect_events(), *paul.collect_events(), *durand.collect_events()]


def test_every_event_goes_on_the_wire_without_a_secret_or_a_name() -> None:
    found = events()
    assert len({type(e).__name__ for e in found}) >= 20
    for event in found:
        message = to_message(event, b"\x01" * 32)
        wire = message.value + b"".join(v for _, v in message.headers) + message.key
        leaked = [k for k, v in SECRETS.items() if v.encode() in wire]
        assert not leaked, (type(event).__name__, leaked)
        decoded = from_value(message.value)
        headers = dict(message.headers)
        assert headers["ce_id"].decode() == decoded.event_id
        assert headers["ce_subject"] == message.key == str(event.originator_id).encode()
        assert decoded.version == event.originator_version
        assert decoded.aggregate == (
            "account" if isinstance(event, Account.Event) else "organisation"
        )


def test_the_rights_travel() -> None:
    by_type = {type(e).__name__: from_value(to_message(e).value).record for e in events()}
    assert by_type["Created"]["identifier"] == SUPPLIER and by_type["Created"]["kind"] == "siret"
    assert by_type["OperatorMandated"]["identifier"] == OPERATOR
    assert by_type["OperatorMandated"]["modes"] == ["edi"]
    assert by_type["OperatorMandated"]["starts_on"] == "2026-12-06"
    assert by_type["TechnicalAccountCreated"]["spaces"] == ["invoices-issued"]
    assert by_type["TechnicalAccountCreated"]["expires_at"] == NOW + timedelta(days=424)
    assert by_type["MandateSigned"]["text_sha256"] == "9" * 64
    assert by_type["JoinApproved"]["account_id"] and by_type["JoinApproved"]["by"]
