"""The field types of every request model (API bodies, the portal's forms, typed deposit
data): one definition of what a single-line text, a reference, an identifier, a SIRET and a
decimal number accept, so that no model hand-rolls its own and none forgets one.

`\\d` in a pattern also matches fullwidth and Arabic-Indic digits: identifiers use [0-9].
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from facturier.domain.text import identifier_problem, reference_problem, text_problem


class Body(BaseModel):
    """A request model: unknown fields are refused at every level, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


# The error type of a text refused for its characters: the API answers it IRR_SYNTAX.
CHARACTERS = "text_characters"


def _checked(problem: str | None, value: str) -> str:
    if problem:
        raise PydanticCustomError(CHARACTERS, "{problem}", {"problem": problem})
    return value


def _single_line(value: str) -> str:
    return _checked(text_problem(value), value)


def _multi_line(value: str) -> str:
    return _checked(text_problem(value, multiline=True), value)


def _reference(value: str) -> str:
    return _checked(reference_problem(value), value)


def _identifier(value: str) -> str:
    return _checked(identifier_problem(value) or text_problem(value), value)


# A decimal as text: ASCII digits, one optional sign and point. No spaces, underscores,
# exponents or other scripts' digits, which Python's Decimal() would all accept.
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a finite number")
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError("a number written with digits 0-9 and a point, e.g. 1234.50")
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError("not a number") from None
    return value


Line = Annotated[str, AfterValidator(_single_line)]
"""A single-line free text (a name, an address line)."""
Text = Annotated[str, AfterValidator(_multi_line)]
"""A free text that may break lines (a reason, a comment, payment terms)."""
Reference = Annotated[str, AfterValidator(_reference)]
"""A text compared by eye: an invoice number, an order reference, a service code."""
Identifier = Annotated[str, AfterValidator(_identifier)]
"""An identifier or a code: printable ASCII."""
Siret = Annotated[str, Field(pattern=r"^[0-9]{14}$", examples=["11000201100044"])]
"""14 ASCII digits (the check digit is the domain's to verify, with its reason code)."""
Number = Annotated[Decimal, BeforeValidator(_decimal)]
"""A decimal number: a JSON number, or a string of ASCII digits with an optional point."""
