"""Crash test of the authorisation projection, with real processes: organisations with
members, spaces, hand-overs, operators' mandates and technical accounts are saved in the
accounts' store, the access relay publishes them, and the projection is SIGKILLed twice in
the middle of a batch (rows written, not committed), then restarted; finally the relay
publishes everything a second time (as after a crash between send and save).

After each kill the rights in the tables are exactly the fold of the messages the stored
offsets say were consumed; at the end they equal the fold of the whole topic and what the
aggregates themselves say, and the redelivered messages changed nothing."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest
from kafka import TopicPartition
from stdnum import luhn
from stdnum.fr import siret

from facturier.adapters.mail import MemoryMailer
from facturier.config.settings import Settings
from facturier.domain.accounts import Account
from facturier.events.access import AccessEvent, from_value
from facturier.projections.authorisation.queries import MemoryAccess
from facturier.services.application.accounts import AccountsApp
from facturier.services.application.operator_mandates import OperatorMandates
from facturier.services.application.organisations import Decision, Organisations
from tests.support.pipeline import (
    _partitions,
    _plain_consumer,
    freeze_when,
    open_write_transactions,
    poll_until,
    query,
    wait_while_running,
)
from tests.support.stack import Service

pytestmark = pytest.mark.stack

ORGANISATIONS = 500  # some 9,000 events: five polls of 2,000 or more
PEOPLE = 40
KILLS = 2


def _siret(n: int) -> str:
    """The n-th valid SIRET of a made-up SIREN range."""
    siren = f"9{n:07d}" + luhn.calc_check_digit(f"9{n:07d}")
    return next(c for c in (f"{siren}{k:05d}" for k in range(1, 100)) if siret.is_valid(c))


def build(app: AccountsApp, count: int) -> dict[str, dict[str, Any]]:
    """Organisations and the rights each member holds, as the aggregates say."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    organisations = Organisations(app, MemoryMailer(), "https://portal.example")
    mandates = OperatorMandates(organisations)
    people = []
    for i in range(PEOPLE):
        account = Account.register(f"p{i}@crash.example", "", f"P{i}", "fr", "0" * 64, now)
        account.activate("0" * 64, "unused", now)
        app.save(account)
        people.append(account)
    made = []
    for n in range(count):
        creator = app.find_id(people[n % PEOPLE].id)
        assert creator is not None
        public = n % 3 == 0
        org = organisations.create(creator, "siret", _siret(n), f"O{n}", public).organisation
        made.append(org.id)
        joiners = rng.sample([p for p in people if p.id != creator.id], 3)
        for joiner in joiners:
            fresh = app.find_id(joiner.id)
            assert fresh is not None
            organisations.ask_to_join(fresh, "siret", _siret(n))
        organisations.decide(creator, org.id, [Decision(str(j.id), "", True) for j in joiners])
        if public:
            organisations.grant(creator, org.id, str(joiners[0].id), "invoices-received")
        organisations.withdraw(creator, org.id, str(joiners[1].id), "invoices-issued")
        if n % 4 == 1:
            organisations.transfer_principal(creator, org.id, str(joiners[2].id))
        if n > 0 and n % 2 == 0:
            mandates.grant(creator, org.id, "siret", _siret(n - 1), ["edi", "pdf"])
        if n % 5 == 0:
            held = organisations.get(org.id)
            owner = app.find_id(UUID(held.principal or ""))
            assert owner is not None
            held.create_technical_account(
                owner.id, f"client-{n}", "ERP", "a" * 64, ["invoices-issued"], now
            )
            organisations.save(held)
    return {str(key): _rights(organisations.get(key)) for key in made}


def _rights(org: Any) -> dict[str, Any]:
    return {
        "members": {
            k: (m.role.value, sorted(s.value for s in m.spaces)) for k, m in org.members.items()
        },
        "operators": sorted(m.identifier for m in org.operators.values() if m.revoked_at is None),
        "clients": sorted(org.technical_accounts),
    }


Records = list[tuple[int, int, AccessEvent]]  # (partition, offset, event)


def read_access_topic(settings: Settings) -> tuple[Records, dict[int, int]]:
    topic = settings.kafka.access_topic
    reader = _plain_consumer(settings)
    try:
        tps = [TopicPartition(topic, p) for p in _partitions(reader, topic)]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        ends = {tp: int(o) for tp, o in reader.end_offsets(tps).items()}
        found: list[tuple[int, int, AccessEvent]] = []
        deadline = time.monotonic() + 60
        while any(reader.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "the access topic could not be read in time"
            for tp, batch in reader.poll(timeout_ms=500).items():
                found += [
                    (tp.partition, m.offset, from_value(m.value))
                    for m in batch
                    if m.offset < ends[tp]
                ]
        return sorted(found, key=lambda r: r[:2]), {tp.partition: o for tp, o in ends.items()}
    finally:
        reader.close()


def offsets(settings: Settings) -> dict[int, int]:
    rows = query(
        settings,
        "SELECT partition, next_offset FROM consumer_offsets WHERE group_id = %s AND topic = %s",
        [settings.authorisation.group, settings.kafka.access_topic],
    )
    return {int(p): int(o) for p, o in rows}


def fold_until(records: Records, upto: dict[int, int]) -> dict[str, Any]:
    """What the tables must hold after the messages before `upto` (partition -> offset)."""
    memory = MemoryAccess()
    memory.apply(e for p, o, e in records if o < upto.get(p, 0))
    return {
        key: {
            "members": {k: (m["role"], m["spaces"]) for k, m in state.members.items()},
            "operators": sorted(g.identifier for g in state.operators.values() if not g.revoked),
            "clients": sorted(c for c, g in state.clients.items() if not g.revoked),
        }
        for key, state in memory.states.items()
    }


def tables(settings: Settings) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for (key,) in query(settings, "SELECT organisation_id::text FROM access_organisation"):
        found[key] = {"members": {}, "operators": [], "clients": []}
    for account, key, role, spaces in query(
        settings, "SELECT account_id::text, organisation_id::text, role, spaces FROM access_member"
    ):
        found[key]["members"][account] = (role, sorted(spaces))
    for identifier, key in query(
        settings, "SELECT operator_identifier, supplier_organisation::text FROM access_operator"
    ):
        found[key]["operators"].append(identifier)
    for client, key in query(
        settings, "SELECT client_id, organisation_id::text FROM access_client"
    ):
        found[key]["clients"].append(client)
    for rights in found.values():
        rights["operators"].sort()
        rights["clients"].sort()
    return found


def test_the_authorisation_projection_killed_mid_batch_loses_and_doubles_nothing(
    make_settings: Callable[[], Settings], start_service: Callable[..., Service]
) -> None:
    settings = make_settings()
    app = AccountsApp(settings.postgres)
    try:
        expected = build(app, ORGANISATIONS)
        last = int(query(settings, "SELECT max(notification_id) FROM accounts_events")[0][0])
    finally:
        app.close()

    relay = start_service(settings, "--access-relay")

    def published() -> bool:
        position = "SELECT position FROM relay_position WHERE name = %s"
        return query(settings, position, [settings.kafka.access_topic]) == [(last,)]

    wait_while_running(relay, published, 120, "the access relay to publish everything")
    relay.stop()
    records, ends = read_access_topic(settings)
    assert len(records) == last  # every account and organisation event, once
    total = sum(ends.values())
    print(f"\n{last} access events of {ORGANISATIONS} organisations on the topic")

    applied = 0
    for kill in range(1, KILLS + 1):
        projection = start_service(settings, "--authorisation")
        poll_until(
            lambda: sum(offsets(settings).values()),
            lambda n, before=applied, p=projection: n > before or p.process.poll() is not None,
            timeout_s=120,
            what=f"the projection to apply more than {applied} messages",
        )
        frozen: dict[int, int] = {}

        def in_a_batch(frozen: dict[int, int] = frozen) -> bool:
            if not open_write_transactions(settings):
                return False
            frozen.update(offsets(settings))
            return True

        attempts = freeze_when(projection, in_a_batch, 60, "the projection inside a batch")
        projection.kill()
        assert projection.process.returncode == -9, projection.output()
        now = offsets(settings)
        assert now == frozen  # the batch it was writing never committed
        consumed = sum(now.values())
        assert applied < consumed < total, (kill, applied, consumed, total)
        assert tables(settings) == fold_until(records, now)
        print(f"kill {kill}: {consumed} of {total} messages applied (caught after {attempts})")
        applied = consumed

    projection = start_service(settings, "--authorisation")
    complete = {p: o for p, o in ends.items() if o}
    wait_while_running(projection, lambda: offsets(settings) == complete, 120, "the whole topic")
    assert tables(settings) == fold_until(records, complete) == expected

    # Everything published again: the topic doubles, the rights do not.
    with psycopg.connect(settings.postgres.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE relay_position SET position = 0 WHERE name = %s", [settings.kafka.access_topic]
        )
    relay = start_service(settings, "--access-relay")
    wait_while_running(relay, published, 120, "the access relay to publish everything again")
    relay.stop()
    _, again = read_access_topic(settings)
    assert sum(again.values()) == 2 * total
    twice = {p: o for p, o in again.items() if o}
    wait_while_running(projection, lambda: offsets(settings) == twice, 120, "the second copy")
    projection.stop()
    assert tables(settings) == expected
    assert query(settings, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert expected and max(len(r["members"]) for r in expected.values()) == 4
