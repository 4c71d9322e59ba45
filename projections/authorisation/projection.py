"""The authorisation projection: the access topic folded, per organisation, into the rights
that the API and the portal check on every request (`queries.py` asks them).

A batch locks the states of its organisations, folds its events over them (`state.apply`,
skipping versions already applied), then saves each changed state and rewrites its derived
rows (members, operators' mandates, technical accounts) in the transaction that stores the
offsets: a crash anywhere loses and doubles nothing. Account events are on the topic for
subscribers and auditors; the rights follow from the organisations' events alone.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from facturier.events.access import AccessEvent, from_value
from facturier.projections.authorisation.state import OrganisationAccess, apply
from facturier.projections.runner import Cursor


class AuthorisationProjection:
    schemas: tuple[str, ...] = ("authorisation",)

    def __init__(self, group_id: str, topic: str) -> None:
        self.group_id = group_id
        self.topic = topic

    @staticmethod
    def decode(value: bytes) -> AccessEvent:
        return from_value(value)

    def apply(self, cur: Cursor, events: list[AccessEvent]) -> None:
        ours = [e for e in events if e.aggregate == "organisation"]
        if not ours:
            return
        states = _load(cur, {e.aggregate_id for e in ours})
        changed: dict[str, OrganisationAccess] = {}
        for e in ours:
            state = states.setdefault(e.aggregate_id, OrganisationAccess(e.aggregate_id))
            if apply(state, e):
                changed[e.aggregate_id] = state
        if changed:
            _save(cur, list(changed.values()))


def _load(cur: Cursor, ids: set[str]) -> dict[str, OrganisationAccess]:
    # A cursor of its own: in pipeline mode `cur` may still be owed earlier results.
    with cur.connection.cursor() as query:
        rows = query.execute(
            "SELECT organisation_id::text, state FROM access_organisation"
            " WHERE organisation_id = ANY(%s::uuid[]) FOR UPDATE",
            (list(ids),),
        ).fetchall()
    return {key: OrganisationAccess.from_json(state) for key, state in rows}


def _save(cur: Cursor, states: list[OrganisationAccess]) -> None:
    ids = [s.organisation_id for s in states]
    cur.executemany(
        "INSERT INTO access_organisation (organisation_id, version, state) VALUES (%s, %s, %s)"
        " ON CONFLICT (organisation_id) DO UPDATE SET version = EXCLUDED.version,"
        " state = EXCLUDED.state",
        [(s.organisation_id, s.version, Jsonb(s.to_json())) for s in states],
    )
    for table in ("access_member", "access_client"):
        cur.execute(f"DELETE FROM {table} WHERE organisation_id = ANY(%s::uuid[])", (ids,))
    cur.execute("DELETE FROM access_operator WHERE supplier_organisation = ANY(%s::uuid[])", (ids,))
    members: list[tuple[Any, ...]] = []
    operators: list[tuple[Any, ...]] = []
    clients: list[tuple[Any, ...]] = []
    for s in states:
        held = (s.kind, s.identifier, s.public)
        signed = bool(s.mandate_sha256)
        members += [
            (account, s.organisation_id, *held, m["role"], m["spaces"], signed, s.version)
            for account, m in s.members.items()
        ]
        operators += [
            (g.identifier, s.organisation_id, s.identifier, g.modes, g.starts_on)
            for g in s.operators.values()
            if not g.revoked
        ]
        clients += [
            (client_id, s.organisation_id, *held, g.spaces, g.expires_at)
            for client_id, g in s.clients.items()
            if not g.revoked
        ]
    if members:
        cur.executemany(
            "INSERT INTO access_member (account_id, organisation_id, kind, identifier, public,"
            " role, spaces, mandate_signed, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            members,
        )
    if operators:
        cur.executemany(
            "INSERT INTO access_operator (operator_identifier, supplier_organisation,"
            " supplier_id, modes, starts_on) VALUES (%s, %s, %s, %s, %s)",
            operators,
        )
    if clients:
        cur.executemany(
            "INSERT INTO access_client (client_id, organisation_id, kind, identifier, public,"
            " spaces, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            clients,
        )
