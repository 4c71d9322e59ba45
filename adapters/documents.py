"""The document store: original bytes kept once, addressed by their SHA-256.

Writes are idempotent (the same bytes stored twice are one row), so a retried upload or a
flow resumed after a crash stores nothing twice. Reads check the hash again: a document
altered in the database is refused, never served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from facturier.adapters.postgres import apply_schema, pool
from facturier.config.settings import PostgresSettings
from facturier.domain.model import Document


def describe(content: bytes, filename: str, media_type: str, role: str = "invoice") -> Document:
    """The reference events carry for `content`."""
    return Document(
        sha256=hashlib.sha256(content).hexdigest(),
        filename=filename,
        media_type=media_type,
        size=len(content),
        role=role,
    )


class DocumentStore:
    def __init__(
        self, postgres: PostgresSettings, connections: ConnectionPool | None = None
    ) -> None:
        apply_schema(postgres, "documents")
        self._own_pool = connections is None
        self.pool = connections or pool(postgres, "documents", 4)

    def put(
        self, content: bytes, filename: str, media_type: str, role: str = "invoice"
    ) -> Document:
        document = describe(content, filename, media_type, role)
        self.put_many([(document, content)])
        return document

    def put_many(self, documents: Iterable[tuple[Document, bytes]]) -> None:
        """Store several documents in one transaction (a flow's chunk of invoices)."""
        rows = {d.sha256: (d.sha256, content, len(content)) for d, content in documents}
        if not rows:
            return
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO document (sha256, content, size) VALUES (%s, %s, %s) "
                "ON CONFLICT (sha256) DO NOTHING",
                list(rows.values()),
            )

    def get(self, sha256: str) -> bytes:
        with self.pool.connection() as conn:
            row: tuple[Any, ...] | None = conn.execute(
                "SELECT content FROM document WHERE sha256 = %s", (sha256,)
            ).fetchone()
        if row is None:
            raise DocumentMissing(sha256)
        content = bytes(row[0])
        if hashlib.sha256(content).hexdigest() != sha256:
            raise DocumentCorrupted(sha256)
        return content

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()


class DocumentStorage(Protocol):
    """What the use cases need of a document store: PostgreSQL (`DocumentStore`) in service,
    memory (`MemoryDocumentStore`) in the application tests."""

    def put(
        self, content: bytes, filename: str, media_type: str, role: str = "invoice"
    ) -> Document: ...

    def put_many(self, documents: Iterable[tuple[Document, bytes]]) -> None: ...

    def get(self, sha256: str) -> bytes: ...

    def close(self) -> None: ...


class MemoryDocumentStore:
    """The document store in memory, as the event store's plain-object recorder is: the same
    addressing by SHA-256, idempotent writes and integrity check on read."""

    def __init__(self) -> None:
        self._contents: dict[str, bytes] = {}

    def put(
        self, content: bytes, filename: str, media_type: str, role: str = "invoice"
    ) -> Document:
        document = describe(content, filename, media_type, role)
        self.put_many([(document, content)])
        return document

    def put_many(self, documents: Iterable[tuple[Document, bytes]]) -> None:
        for document, content in documents:
            self._contents.setdefault(document.sha256, content)

    def get(self, sha256: str) -> bytes:
        if sha256 not in self._contents:
            raise DocumentMissing(sha256)
        content = self._contents[sha256]
        if hashlib.sha256(content).hexdigest() != sha256:
            raise DocumentCorrupted(sha256)
        return content

    def count(self) -> int:
        return len(self._contents)

    def close(self) -> None:
        pass


class DocumentMissing(LookupError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"no document {sha256}")


class DocumentCorrupted(RuntimeError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"document {sha256} no longer matches its hash")
