"""Signing in and out, and the language switch.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

- `GET|POST /portal/login`, `POST /portal/logout`: a session opened with an API token
  (`sessions.py`); the login form is protected by a double-submit cookie, its failures are
  throttled with the API's (`TokenGuard`);
- `GET /portal/language/{code}`: the language switch (cookie; else `Accept-Language`).
"""

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facturier.services.application.authentication import Locked, Refusal
from facturier.services.portal import i18n
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import (
    PostedForm,
    checked,
    local,
    render,
    secure,
    to_login,
    translator,
)
from facturier.services.portal.sessions import (
    ACCOUNT_COOKIE,
    LOGIN_COOKIE,
    LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
    SESSION_HOURS,
    same,
)
from facturier.services.web_common import client_address


def login_page(
    deps: PortalDeps,
    request: Request,
    status: int = 200,
    error: str = "",
    summary: str = "",
    **more: Any,
) -> HTMLResponse:
    """The sign-in forms (an account's e-mail and password; an API token), with the nonce of
    their double-submit cookie."""
    nonce = secrets.token_urlsafe(32)
    response = render(
        deps,
        request,
        "portal_login.html",
        status,
        csrf=nonce,
        error=error,
        summary=summary,
        session=None,
        **more,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        path="/portal/login",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    return response


def sign_in(deps: PortalDeps, request: Request, form: dict[str, str]) -> Response:
    """A session for the token pasted, its cookie set; or the form again, saying why not."""
    t = translator(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not same(form.get("csrf", ""), nonce):
        return login_page(deps, request, 403, summary=t("login.expired"))
    token = form.get("token", "").strip()
    if not token:
        return login_page(deps, request, 422, error=t("login.missing"))
    found = deps.guard.check(token, client_address(request), "portal")
    if isinstance(found, Locked):
        seconds = found.retry_after_s
        locked = login_page(deps, request, 429, summary=t("login.throttled", seconds=seconds))
        locked.headers["Retry-After"] = str(seconds)
        return locked
    if isinstance(found, Refusal):
        refused = (
            t("login.revoked")
            if found is Refusal.REVOKED
            else t("login.token_expired")
            if found is Refusal.EXPIRED
            else t("login.unknown")
        )
        return login_page(deps, request, 401, error=refused)
    previous = deps.sessions.current(request)
    if previous is not None:
        deps.sessions.close(previous)
    session_id, _ = deps.sessions.open(token, found)
    response = RedirectResponse("/portal", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_HOURS * 3600,
        path="/portal",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/portal/login")
    return response


def login_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/language/{code}")
    def choose_language(code: str, request: Request, next: str = "/portal") -> Response:
        """The language switch of every page: remembered in a cookie, then back to the page."""
        response = RedirectResponse(local(next, "/portal"), status_code=303)
        if code in i18n.CODES:
            response.set_cookie(
                i18n.COOKIE,
                code,
                max_age=365 * 24 * 3600,
                path="/portal",
                httponly=True,
                samesite="lax",
                secure=secure(request),
            )
        return response

    @router.get("/login")
    def login_form(request: Request) -> Response:
        account = deps.sign_in().current(request.cookies.get(ACCOUNT_COOKIE, ""))
        if account is not None and account[0].signed_in:
            # Signed in with an account, not (yet) working for an organisation.
            needs_terms = deps.consents().needs_terms(account[1])
            target = "/portal/terms" if needs_terms else "/portal/organisations"
            return RedirectResponse(target, status_code=303)
        return login_page(deps, request)

    @router.post("/login")
    def login(request: Request, form: PostedForm) -> Response:
        return sign_in(deps, request, form)

    @router.post("/logout")
    def logout(request: Request, form: PostedForm) -> Response:
        session = checked(deps, request, form)
        if isinstance(session, Response):
            return session
        deps.sessions.close(session)
        response = to_login()
        for cookie in (SESSION_COOKIE, ACCOUNT_COOKIE):
            response.delete_cookie(
                cookie, path="/portal", httponly=True, samesite="strict", secure=secure(request)
            )
        return response

    return router
