"""A supplier's e-mail subscription: one address, a language and the statuses it wants
mailed, in plain words (`STATUS_WORDS`; by default received, suspended, rejected, paid)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from facturier.domain.languages import EMAIL_DEFAULT_LANGUAGE, Language
from facturier.domain.lifecycle import STATUS_WORDS, Status, StatusWord
from facturier.domain.text import is_email

STATUS_OF_WORD: dict[str, Status] = {word: status for status, word in STATUS_WORDS.items()}
WORDS: tuple[str, ...] = tuple(STATUS_WORDS.values())
DEFAULT_STATUSES: tuple[str, ...] = (
    StatusWord.RECEIVED,
    StatusWord.SUSPENDED,
    StatusWord.REJECTED,
    StatusWord.PAID,
)
LANGUAGES: tuple[str, ...] = tuple(Language)


class InvalidSubscription(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Subscription:
    supplier_id: str
    email: str
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    language: str = EMAIL_DEFAULT_LANGUAGE

    @classmethod
    def checked(
        cls,
        supplier_id: str,
        email: str,
        statuses: Iterable[str] | None = None,
        language: str = EMAIL_DEFAULT_LANGUAGE,
    ) -> Subscription:
        """A subscription from what a user typed, or InvalidSubscription naming the field."""
        email = email.strip()
        if not is_email(email):
            raise InvalidSubscription("email", f"{email!r} is not an e-mail address")
        words = DEFAULT_STATUSES if statuses is None else tuple(dict.fromkeys(statuses))
        unknown = [w for w in words if w not in STATUS_WORDS.values()]
        if unknown:
            raise InvalidSubscription(
                "statuses", f"unknown status {', '.join(unknown)}; known: {', '.join(WORDS)}"
            )
        if language not in LANGUAGES:
            raise InvalidSubscription("language", f"language is one of {', '.join(LANGUAGES)}")
        ordered = tuple(w for w in WORDS if w in words)  # lifecycle order, whatever was typed
        return cls(supplier_id, email, ordered, language)
