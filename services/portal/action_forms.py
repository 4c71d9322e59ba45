"""The lifecycle action forms of the invoice page, generated from the transition table
(`domain/lifecycle.py`: which actions a role may perform in a status) and from the model
each action's API route takes (`services/application/actions.py`). No I/O: the page is in
`invoice_page.py`, the posts in `actions.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from facturier.domain.lifecycle import TRANSITION_BY_ACTION, Action, Status
from facturier.domain.model import ReasonCode
from facturier.services.application.actions import body_of

# Attachments a supplier may add when completing an invoice (Chorus: 10 MB each).
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".xml": "application/xml",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
ATTACHMENT_FIELD = "attachment"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text, textarea, select, date, decimal, file
    required: bool
    value: str = ""
    maxlength: int | None = None
    choices: tuple[str, ...] = ()
    accept: str = ""


@dataclass(frozen=True)
class ActionForm:
    action: str
    fields: tuple[FieldSpec, ...]
    multipart: bool
    primary: bool


def _max_length(info: FieldInfo) -> int | None:
    for item in info.metadata:
        if isinstance(item, annotated_types.MaxLen):
            return int(item.max_length)
    return None


def field_specs(action: Action, values: Mapping[str, str]) -> tuple[FieldSpec, ...]:
    """The inputs of an action's form, read from the model its API route takes."""
    specs: list[FieldSpec] = []
    for name, info in body_of(action).model_fields.items():
        required = info.is_required()
        default = "" if required or info.default is None else str(info.default)
        maxlength = _max_length(info)
        kind = "text"
        choices: tuple[str, ...] = ()
        if name == "reason_code":
            kind, choices = "select", tuple(code.value for code in ReasonCode)
            # No choice is made for the user, whatever the API's default: the form opens
            # on an empty placeholder and a post must name one (`select_errors`).
            default, required = "", True
        elif info.annotation is date:
            kind = "date"
        elif info.annotation is Decimal:
            kind = "decimal"
        elif maxlength is not None and maxlength >= 1000:
            kind = "textarea"
        specs.append(FieldSpec(name, kind, required, values.get(name, default), maxlength, choices))
    specs.sort(key=lambda spec: spec.kind != "select")  # the reason first, then its details
    if action is Action.COMPLETE:  # the domain takes documents; the JSON route has none
        accept = ",".join(ATTACHMENT_TYPES)
        specs.append(FieldSpec(ATTACHMENT_FIELD, "file", False, accept=accept))
    return tuple(specs)


def select_errors(action: Action, form: Mapping[str, str], t: Callable[..., str]) -> dict[str, str]:
    """Every select of an action's form needs an explicit choice among its options."""
    return {
        spec.name: t(f"error.choose.{spec.name}")
        for spec in field_specs(action, {})
        if spec.kind == "select" and form.get(spec.name, "").strip() not in spec.choices
    }


def action_forms(
    actions: Iterable[Action], prefill: Mapping[str, str], posted: Mapping[str, str], failed: str
) -> list[ActionForm]:
    forms: list[ActionForm] = []
    for action in actions:
        values = posted if action.value == failed else prefill
        fields = field_specs(action, values)
        forms.append(
            ActionForm(
                action.value,
                fields,
                multipart=any(f.kind == "file" for f in fields),
                primary=TRANSITION_BY_ACTION[action].target not in (Status.REJETEE,),
            )
        )
    return forms


def validation_text(error: ErrorDetails, t: Callable[..., str]) -> str:
    kind = error["type"]
    if kind in ("missing", "string_too_short"):
        return t("error.required")
    if kind in ("decimal_parsing", "decimal_type", "greater_than", "decimal_max_places"):
        return t("error.amount")
    if kind.startswith("date"):
        return t("error.date")
    if kind == "string_pattern_mismatch":
        return t("error.siret")
    if kind == "string_too_long":
        return t("error.too_long")
    return error["msg"]


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes


@dataclass(frozen=True)
class ActionPost:
    fields: dict[str, str]
    upload: Upload | None
