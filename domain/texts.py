"""Versioned texts that people accept: the terms of use (each account) and the billing mandate
(each organisation whose users type invoices on the portal). A text is known by its kind,
its version and the SHA-256 of its exact bytes; accepting one records that hash, so what was
accepted can always be shown again. Every version is kept (`schemas/texts/`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum


class TextKind(StrEnum):
    TERMS = "terms"
    MANDATE = "mandate"


@dataclass(frozen=True)
class Text:
    kind: TextKind
    version: int
    body: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()
