"""`POST /portal/invoices/{id}/actions/{action}`: one lifecycle action through its form
(`action_forms.py`), checked and performed by the same code as the JSON API's route
(`services/application/actions.py`, the event store being the write side):
POST/redirect/GET on success, the invoice page with the errors in place otherwise.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import TRANSITION_BY_ACTION, Action, LifecycleError, Role
from facturier.domain.model import InvalidCommand
from facturier.services.application.actions import (
    ActionForbidden,
    arguments,
    body_of,
    may_perform,
    perform,
)
from facturier.services.application.invoicing import RoutingRefused
from facturier.services.portal.action_forms import (
    ATTACHMENT_FIELD,
    ATTACHMENT_TYPES,
    ActionPost,
    Upload,
    select_errors,
    validation_text,
)
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.entry_form import MAX_FORM_BYTES
from facturier.services.portal.invoice_page import show_invoice, visible
from facturier.services.portal.rendering import (
    ACTION_NAMES,
    checked,
    forbidden,
    local,
    not_found,
    translator,
    with_param,
)
from facturier.services.portal.sessions import Session


class Refused(Exception):
    """An action's form refused: the status, the errors by field, and a sentence if any."""

    def __init__(self, status: int, fields: dict[str, str], text: str = "") -> None:
        super().__init__(text)
        self.status, self.fields, self.text = status, fields, text


def action_reader(deps: PortalDeps) -> Callable[[Request], Any]:
    async def action_post(request: Request) -> ActionPost:
        """An action's form: urlencoded, or multipart with at most one attachment
        (completing a suspended invoice), bounded before it is read."""
        limit = deps.submissions().limits.max_pdf_bytes
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            raise HTTPException(411, "a form post states its length")
        if int(length) > limit + MAX_FORM_BYTES:
            raise HTTPException(413, f"an attachment is at most {limit // 1_000_000} MB")
        form = await request.form(max_files=1, max_fields=20)
        fields: dict[str, str] = {}
        upload: Upload | None = None
        for key, value in form.multi_items():
            if isinstance(value, str):
                fields[key] = value
            elif key == ATTACHMENT_FIELD and value.filename:
                upload = Upload(Path(value.filename).name, await value.read(limit + 1))
        await form.close()
        return ActionPost(fields, upload)

    return action_post


def parameters(action: Action, form: dict[str, str], t: Callable[..., str]) -> dict[str, Any]:
    """The action's arguments from its form, as its API model reads them; or Refused."""
    model: type[BaseModel] = body_of(action)
    raw: dict[str, str] = {}
    for name, info in model.model_fields.items():
        value = form.get(name, "").strip()
        if info.annotation is Decimal:
            value = "".join(value.split()).replace(",", ".")
        if value:
            raw[name] = value
    errors = select_errors(action, form, t)
    try:
        params = arguments(model.model_validate(raw))
    except ValidationError as invalid:
        for e in invalid.errors(include_url=False):
            if e["loc"]:
                errors.setdefault(str(e["loc"][0]), validation_text(e, t))
        if not errors:
            raise Refused(422, {}, str(invalid)) from None
    if errors:
        raise Refused(422, errors)
    return params


def stored_upload(deps: PortalDeps, upload: Upload, t: Callable[..., str]) -> Any:
    """The attachment, checked and stored before the event that references it
    (content-addressed: a retry is free); or Refused."""
    media_type = ATTACHMENT_TYPES.get(Path(upload.filename).suffix.lower())
    limit = deps.submissions().limits.max_pdf_bytes
    if media_type is None:
        raise Refused(422, {ATTACHMENT_FIELD: t("error.attachment_type")})
    if not upload.content:
        raise Refused(422, {ATTACHMENT_FIELD: t("error.attachment_empty")})
    if len(upload.content) > limit:
        raise Refused(413, {ATTACHMENT_FIELD: t("error.attachment_size", mb=limit // 1_000_000)})
    return deps.submissions().documents.put(
        upload.content, upload.filename, media_type, role="attachment"
    )


def performed(
    deps: PortalDeps,
    invoice_id: uuid.UUID,
    action: Action,
    params: dict[str, Any],
    session: Session,
    correlation_id: str,
    t: Callable[..., str],
) -> None:
    """The action recorded in the event store; or Refused (ActionForbidden goes through)."""
    app = deps.submissions().app
    fields = body_of(action).model_fields
    try:
        perform(app, invoice_id, action, params, session.principal, correlation_id)
    except LifecycleError:
        current_status = app.get(invoice_id).status
        text = t("error.not_allowed", status=t(f"status.{current_status}"))
        raise Refused(409, {}, text) from None
    except RoutingRefused as routing:
        errors = {}
        for finding in routing.findings:
            key = finding.field if finding.field in fields else "recipient_siret"
            errors[key] = f"[{finding.reason_code}] {finding.message}"
        raise Refused(422, errors) from None
    except InvalidCommand as invalid:
        if invalid.field in fields:
            raise Refused(422, {invalid.field: invalid.message}) from None
        raise Refused(422, {}, invalid.message) from None


def action_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()
    action_post = action_reader(deps)

    @router.post("/invoices/{invoice_id}/actions/{name}")
    def act(
        invoice_id: uuid.UUID,
        name: str,
        request: Request,
        posted: Annotated[ActionPost, Depends(action_post)],
    ) -> Response:
        """One lifecycle action through its form; POST/redirect/GET on success, the invoice
        page with the errors in place otherwise."""
        form = posted.fields
        session = checked(deps, request, form)
        if isinstance(session, Response):
            return session
        t = translator(request)
        invoice = visible(deps, session, invoice_id)
        if invoice is None or name not in ACTION_NAMES:
            return not_found(deps, request, session)
        action = Action(name)
        not_yours = t("message.not_yours", action=t(f"action.{name}"))
        if (
            not may_perform(session.principal, action)
            or TRANSITION_BY_ACTION[action].by is Role.PLATFORM
        ):
            return forbidden(deps, request, session, not_yours)
        correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        try:
            params = parameters(action, form, t)
            if posted.upload is not None:
                params["documents"] = (stored_upload(deps, posted.upload, t),)
            performed(deps, invoice_id, action, params, session, correlation_id, t)
        except ActionForbidden:
            return forbidden(deps, request, session, not_yours)
        except Refused as refused:
            return _refused_page(deps, request, session, invoice, name, form, refused, t)
        back = local(form.get("back", ""), f"/portal/invoices/{invoice_id}")
        return RedirectResponse(with_param(back, "done", name), status_code=303)

    return router


def _refused_page(
    deps: PortalDeps,
    request: Request,
    session: Session,
    invoice: Invoice,
    name: str,
    form: dict[str, str],
    refused: Refused,
    t: Callable[..., str],
) -> HTMLResponse:
    """The invoice page again, the refused form as typed, its errors in place."""
    items = [
        {"href": f"#{name}-{key}", "text": f"{t('field.' + key)}: {message}"}
        for key, message in refused.fields.items()
    ]
    if refused.text:
        items.append({"href": "", "text": refused.text})
    problem = {"action": name, "fields": refused.fields, "items": items}
    return show_invoice(deps, request, session, invoice, refused.status, problem, form)
