"""What a text may hold, wherever it enters: one set of character rules for the API, the
portal, typed deposit data, file names and the invoices read from XML.

Every text must be representable in XML 1.0 (the invoice documents the platform generates and
exchanges) and in PostgreSQL's `text` (no NUL). Identifiers are plain ASCII, so that
look-alike digits (fullwidth, Arabic-Indic) never reach a lookup that normalises them while
another compares them as they are. References that people compare by eye (invoice numbers,
order references) refuse the invisible characters that make two different values look alike.
"""

from __future__ import annotations

import re

from stdnum.fr import siret

# XML 1.0 `Char` excludes C0 controls but tab, LF and CR; surrogates; U+FFFE and U+FFFF.
# DEL and the C1 controls are allowed by XML 1.0 but discouraged, and never legitimate in an
# invoice: refused as well.
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_FORBIDDEN = re.compile(f"[{_CONTROL}\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n\r\u2028\u2029\x85]")
# Bidirectional embeddings, overrides, isolates and marks; zero-width spaces and joiners; the
# byte-order mark; soft hyphen; Mongolian vowel separator; word joiner and invisible operators.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_IDENTIFIER = re.compile(r"[\x20-\x7e]+")  # printable ASCII (spaces: "FR 44 732 829 320")


def describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` cannot be accepted as a free text, or None. Tab, CR and LF are allowed
    only in a multi-line text (a comment, a reason)."""
    found = _FORBIDDEN.search(value)
    if found is None and not multiline:
        found = _LINE_BREAKS.search(value)
    if found is not None:
        kind = "a line break or tab" if _LINE_BREAKS.match(found[0]) else "a control character"
        if "\ud800" <= found[0] <= "\udfff":
            kind = "an unpaired surrogate"
        elif found[0] in "\ufffe\uffff":
            kind = "a non-character"
        return f"holds {kind} ({describe(found[0])}) at position {found.start() + 1}"
    return None


def shown(value: str) -> str:
    """`value` with each character a text may not hold replaced by U+FFFD: how a refused name
    is quoted back (in a report, a log) without carrying what made it refused."""
    return _LINE_BREAKS.sub("\ufffd", _FORBIDDEN.sub("\ufffd", value))


def reference_problem(value: str) -> str | None:
    """A text people compare by eye (an invoice number, an order or contract reference, a
    service code): single line, and no invisible or direction-changing character."""
    problem = text_problem(value)
    if problem is None and (found := _INVISIBLE.search(value)) is not None:
        problem = (
            f"holds an invisible or direction-changing character ({describe(found[0])})"
            f" at position {found.start() + 1}"
        )
    return problem


def identifier_problem(value: str) -> str | None:
    """An identifier or a code (SIRET, SIREN, VAT number, IBAN, currency, unit...):
    printable ASCII only."""
    if value and not _IDENTIFIER.fullmatch(value):
        bad = next(c for c in value if not ("\x20" <= c <= "\x7e"))
        return f"must be plain ASCII letters, digits and signs ({describe(bad)} is not)"
    return None


def is_ascii_digits(value: str, length: int | None = None) -> bool:
    """ASCII 0-9 only (str.isdigit() also accepts fullwidth and other scripts' digits)."""
    return value.isascii() and value.isdigit() and (length is None or len(value) == length)


def is_siret(value: str) -> bool:
    """A valid SIRET written in ASCII digits (python-stdnum also reads other scripts' digits,
    which the directory would then find under another spelling)."""
    return is_ascii_digits(value, 14) and siret.is_valid(value)


# One plain address: no display name, list or header line (it goes into To: as is).
_ATOM = r"[^@\s,;:<>()\[\]\"\\]+"
_EMAIL = re.compile(rf"{_ATOM}@{_ATOM}\.{_ATOM}")
MAX_EMAIL = 254


def is_email(value: str) -> bool:
    """One plain e-mail address (RFC 5321's length limit), nothing a mail header could
    misread."""
    return (
        len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value) is not None and not text_problem(value)
    )
