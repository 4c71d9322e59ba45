"""`GET|POST /portal/notifications`, `POST /portal/notifications/delete`: a supplier chooses
the e-mails it receives (the same `Subscriptions` as the JSON API's
`/suppliers/{id}/notifications`). Suppliers only: they manage their own.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facturier.domain.subscriptions import (
    DEFAULT_STATUSES,
    STATUS_OF_WORD,
    WORDS,
    InvalidSubscription,
)
from facturier.services.application.principals import ApiRole
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import (
    PostedForm,
    checked,
    forbidden,
    language,
    render,
    to_login,
    translator,
)
from facturier.services.portal.sessions import Session

NOTIFY_DONE = frozenset({"saved", "removed"})


def notifications_page(
    deps: PortalDeps,
    request: Request,
    session: Session,
    status: int = 200,
    posted: Mapping[str, Any] | None = None,
    invalid: InvalidSubscription | None = None,
    done: str = "",
) -> HTMLResponse:
    found = deps.subscriptions.get(session.principal, session.principal.scope)
    values = posted or {
        "email": found.email if found else "",
        "statuses": found.statuses if found else DEFAULT_STATUSES,
        "language": found.language if found else language(request),
    }
    return render(
        deps,
        request,
        "portal_notifications.html",
        status,
        session=session,
        subscribed=found,
        words=[(word, STATUS_OF_WORD[word].value) for word in WORDS],
        invalid=invalid,
        done=done,
        **values,
    )


def subscriber(
    deps: PortalDeps, request: Request, form: Mapping[str, str] | None = None
) -> Session | Response:
    """The session of a supplier (who manages its own e-mails), its CSRF token checked
    for a post; else the page that refuses it."""
    if form is None:
        session: Session | Response | None = deps.sessions.current(request)
        if session is None:
            return to_login()
    else:
        session = checked(deps, request, form)
    if isinstance(session, Response):
        return session
    if session.principal.role is not ApiRole.SUPPLIER:
        t = translator(request)
        return forbidden(deps, request, session, t("notify.suppliers_only"))
    return session


def notification_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/notifications")
    def notifications(request: Request, done: str = "") -> Response:
        session = subscriber(deps, request)
        if isinstance(session, Response):
            return session
        done = done if done in NOTIFY_DONE else ""
        return notifications_page(deps, request, session, done=done)

    @router.post("/notifications")
    def save_notifications(request: Request, form: PostedForm) -> Response:
        session = subscriber(deps, request, form)
        if isinstance(session, Response):
            return session
        email, language_code = form.get("email", "").strip(), form.get("language", "")
        # One checkbox per status word: posted forms keep one value per name.
        statuses = tuple(word for word in WORDS if form.get(f"status-{word}"))
        posted = {"email": email, "statuses": statuses, "language": language_code}
        try:
            if not statuses:  # the API allows none; on this page, that is what removing is for
                raise InvalidSubscription("statuses", "no status chosen")
            deps.subscriptions.subscribe(
                session.principal, session.principal.scope, email, statuses, language_code
            )
        except InvalidSubscription as invalid:
            return notifications_page(deps, request, session, 422, posted=posted, invalid=invalid)
        return RedirectResponse("/portal/notifications?done=saved", status_code=303)

    @router.post("/notifications/delete")
    def delete_notifications(request: Request, form: PostedForm) -> Response:
        session = subscriber(deps, request, form)
        if isinstance(session, Response):
            return session
        deps.subscriptions.unsubscribe(session.principal, session.principal.scope)
        return RedirectResponse("/portal/notifications?done=removed", status_code=303)

    return router
