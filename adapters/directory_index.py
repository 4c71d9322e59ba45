"""The directory's read side: structures and services by name, and the search terms of the
portal's buyer search; in PostgreSQL (`schemas/sql/directory.sql`), or in memory for the
application's tests (`MemoryDirectoryIndex`).

Tables derived from the directory's events: `index_structure` rewrites one structure's rows,
`claim_position` / `save_position` keep the last notification indexed. `names`,
`service_names` and `search` read them with a connection of the caller's pool; every query is
an index lookup, and a search reads a bounded number of rows whatever the directory's size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from facturier.adapters.postgres import connect
from facturier.config.settings import PostgresSettings
from facturier.domain.directory import Service, Structure

INDEX_BATCH = 500
SEARCH_LIMIT = 20
MAX_QUERY_WORDS = 6
MAX_TERM = 100
# Rows a search reads at most before it sorts and cuts: a short query on a large directory
# stays bounded (its first matches, in the order of the terms, are shown).
SEARCH_CANDIDATES = 1000


def words(text: str) -> list[str]:
    """The words of `text` as the search compares them: accents dropped, lower case, split
    on whatever is not a letter or a digit."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [w[:MAX_TERM] for w in re.split(r"[\W_]+", plain) if w]


def entry_terms(structure: Structure, service: Service | None) -> set[str]:
    terms = set(words(structure.name)) | {structure.siret}
    if service is not None:
        terms |= set(words(service.code)) | set(words(service.name))
        compact = "".join(words(service.code))
        if compact:
            terms.add(compact[:MAX_TERM])  # "SE-FACT-01" found by "sefact01" too
    return terms


def index_structure(conn: psycopg.Connection[Any], structure: Structure) -> None:
    """The structure's rows of the read side, as it is now (replacing what they said)."""
    conn.execute("DELETE FROM directory_structure WHERE siret = %s", (structure.siret,))
    conn.execute(
        "INSERT INTO directory_structure (siret, name, kind, active, service_code_required,"
        " order_reference_required, service_code_or_order_reference_required)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            structure.siret,
            structure.name,
            structure.kind.value,
            structure.active,
            structure.service_code_required,
            structure.order_reference_required,
            structure.service_code_or_order_reference_required,
        ),
    )
    services = sorted(structure.services.values(), key=lambda s: s.code)
    with conn.cursor() as cur:
        if services:
            cur.executemany(
                "INSERT INTO directory_service (siret, code, name, active) VALUES (%s, %s, %s, %s)",
                [(structure.siret, s.code, s.name, s.active) for s in services],
            )
        rows = search_rows(structure)
        if rows:
            cur.executemany(
                "INSERT INTO directory_search_term (term, siret, service_code) VALUES (%s, %s, %s)",
                rows,
            )


def search_rows(structure: Structure) -> list[tuple[str, str, str]]:
    """The search terms of the structure's entries, as (term, SIRET, service code): the
    structure itself (unless a service code is required and it has active services) and
    each active service; none for a closed structure, shown by name on its old invoices but
    never offered."""
    if not structure.active:
        return []
    active = sorted((s for s in structure.services.values() if s.active), key=lambda s: s.code)
    entries: list[Service | None] = list(active)
    if not structure.service_code_required or not entries:
        entries.insert(0, None)
    return [
        (term, structure.siret, service.code if service else "")
        for service in entries
        for term in sorted(entry_terms(structure, service))
    ]


def names(conn: psycopg.Connection[Any], sirets: Iterable[str]) -> dict[str, str]:
    """The directory's name of each structure it knows among `sirets`."""
    wanted = sorted(set(sirets))
    if not wanted:
        return {}
    found = conn.execute(
        "SELECT siret, name FROM directory_structure WHERE siret = ANY(%s)", (wanted,)
    ).fetchall()
    return {str(siret): str(name) for siret, name in found}


def service_names(
    conn: psycopg.Connection[Any], services: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The directory's name of each (structure SIRET, service code) it knows."""
    wanted = sorted({(siret, code) for siret, code in services if code})
    if not wanted:
        return {}
    found = conn.execute(
        "SELECT s.siret, s.code, s.name FROM directory_service s"
        " JOIN unnest(%s::text[], %s::text[]) AS w(siret, code)"
        " ON s.siret = w.siret AND s.code = w.code",
        ([w[0] for w in wanted], [w[1] for w in wanted]),
    ).fetchall()
    return {(str(siret), str(code)): str(name) for siret, code, name in found}


@dataclass(frozen=True)
class BuyerMatch:
    """One place an invoice can be addressed to: a structure, and one of its services."""

    siret: str
    name: str
    service_code: str  # "": the structure itself
    service_name: str
    order_reference_required: bool


def query_words(text: str) -> list[str]:
    """The words of a search, the longest (most selective) first; a SIRET typed with
    spaces is one word."""
    compact = "".join(text.split())
    if compact.isdigit():
        return [compact[:14]]
    found = list(dict.fromkeys(words(text)))[:MAX_QUERY_WORDS]
    return sorted(found, key=len, reverse=True)


def search_query(terms: list[str], limit: int = SEARCH_LIMIT) -> tuple[str, list[Any]]:
    """The SQL of a search: every word a prefix of one of an entry's terms. The longest word
    drives an index range read of at most SEARCH_CANDIDATES rows; each other word is one
    index probe per candidate."""
    if not terms:
        raise ValueError("a search needs at least one word")
    prefixes = [_like_prefix(term) for term in terms]
    others = "".join(
        " AND EXISTS (SELECT 1 FROM directory_search_term o WHERE o.siret = t.siret"
        " AND o.service_code = t.service_code AND o.term LIKE %s)"
        for _ in prefixes[1:]
    )
    sql = (
        "SELECT s.siret, s.name, e.service_code, coalesce(v.name, ''),"
        " s.order_reference_required"
        " FROM (SELECT DISTINCT siret, service_code FROM ("
        f"SELECT t.siret, t.service_code FROM directory_search_term t WHERE t.term LIKE %s{others}"
        " LIMIT %s) AS hit) AS e"
        " JOIN directory_structure s ON s.siret = e.siret"
        " LEFT JOIN directory_service v ON v.siret = e.siret AND v.code = e.service_code"
        " ORDER BY s.name, s.siret, e.service_code LIMIT %s"
    )
    return sql, [*prefixes, SEARCH_CANDIDATES, limit]


def _like_prefix(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def searched_words(text: str) -> list[str]:
    """The words a search looks for; none for fewer than 2 characters."""
    terms = query_words(text)
    return terms if sum(len(t) for t in terms) >= 2 else []


def search(conn: psycopg.Connection[Any], text: str, limit: int = SEARCH_LIMIT) -> list[BuyerMatch]:
    """The buyers and services matching `text` (by name, SIRET, service code or name), by
    name; nothing for fewer than 2 characters."""
    terms = searched_words(text)
    if not terms:
        return []
    sql, params = search_query(terms, max(1, min(limit, SEARCH_LIMIT)))
    return [
        BuyerMatch(str(siret), str(name), str(code), str(service), bool(needs_ej))
        for siret, name, code, service, needs_ej in conn.execute(sql, params).fetchall()
    ]


def claim_position(conn: psycopg.Connection[Any]) -> int:
    """The last notification the read side holds, its row locked until `conn` commits: two
    processes catching up at once take turns."""
    conn.execute(
        "INSERT INTO directory_index_position (one, notification_id) VALUES (true, 0)"
        " ON CONFLICT DO NOTHING"
    )
    row = conn.execute("SELECT notification_id FROM directory_index_position FOR UPDATE").fetchone()
    return int(row[0]) if row else 0


def save_position(conn: psycopg.Connection[Any], position: int) -> None:
    conn.execute("UPDATE directory_index_position SET notification_id = %s", (position,))


class IndexUpdate(Protocol):
    """One catch-up of the read side: from `position` (the last notification it holds), put
    each structure changed since, then set `position` to the last notification read."""

    position: int

    def put(self, structure: Structure) -> None: ...


class DirectoryIndex(Protocol):
    def catching_up(self) -> AbstractContextManager[IndexUpdate]: ...
    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[BuyerMatch]: ...


class _PostgresUpdate:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.position = claim_position(conn)

    def put(self, structure: Structure) -> None:
        index_structure(self.conn, structure)


class PostgresDirectoryIndex:
    """The read side in PostgreSQL. A catch-up is one transaction holding the position row:
    two processes catching up at once take turns. `pool`: the caller's pool for searches
    (a process serving requests); without one, each call opens its own connection."""

    def __init__(
        self, postgres: PostgresSettings, pool: Callable[[], ConnectionPool] | None = None
    ) -> None:
        self.postgres = postgres
        self.pool = pool

    @contextmanager
    def catching_up(self) -> Iterator[IndexUpdate]:
        with connect(self.postgres) as conn:
            update = _PostgresUpdate(conn)
            yield update
            save_position(conn, update.position)

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[BuyerMatch]:
        if self.pool is not None:
            with self.pool().connection() as conn:
                return search(conn, text, limit)
        with connect(self.postgres) as conn:
            return search(conn, text, limit)


class MemoryDirectoryIndex:
    """The same read side in memory, for the application's tests: the same entries and
    search terms (`search_rows`), the same matching (each word a prefix of one of an
    entry's terms) and the same order."""

    def __init__(self) -> None:
        self.position = 0
        self.structures: dict[str, Structure] = {}
        self.entries: dict[tuple[str, str], set[str]] = {}

    @contextmanager
    def catching_up(self) -> Iterator[IndexUpdate]:
        yield self

    def put(self, structure: Structure) -> None:
        self.structures[structure.siret] = structure
        self.entries = {k: v for k, v in self.entries.items() if k[0] != structure.siret}
        for term, siret, code in search_rows(structure):
            self.entries.setdefault((siret, code), set()).add(term)

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[BuyerMatch]:
        wanted = searched_words(text)
        if not wanted:
            return []
        found = []
        for (siret, code), terms in self.entries.items():
            if all(any(t.startswith(w) for t in terms) for w in wanted):
                s = self.structures[siret]
                service = s.services[code].name if code else ""
                found.append(BuyerMatch(siret, s.name, code, service, s.order_reference_required))
        found.sort(key=lambda m: (m.name, m.siret, m.service_code))
        return found[: max(1, min(limit, SEARCH_LIMIT))]
