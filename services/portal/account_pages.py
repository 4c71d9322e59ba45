"""Signing in with an account, its second factor, and the account's own page.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

- `POST /portal/login/account`: the password step (the sign-in page's first form); then
  `GET|POST /portal/login/code`: the second factor's code (a new mailed code on request);
- `GET /portal/account/second-factor` and the posts below it: enrolling the authenticator app
  (its QR code, then a first code, then the recovery codes shown once) or the e-mail code;
- `GET /portal/account`: who is signed in, the second factor, the open sessions (each can be
  ended), the password change; `POST /portal/account/logout`.

The account's session is its own cookie (HttpOnly, SameSite=Strict, path /portal), replaced
by a new one when the second factor is passed; every post carries the session's CSRF token.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from facturier.adapters.account_sessions import AccountSession
from facturier.domain.accounts import Account, AccountRefused
from facturier.domain.model import InvalidCommand
from facturier.services.application.sign_in import LockedOut, Opened, SignInRefused
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.login import login_page
from facturier.services.portal.rendering import PostedForm, render, secure, translator
from facturier.services.portal.sessions import ACCOUNT_COOKIE, LOGIN_COOKIE, same
from facturier.services.web_common import client_address

ACCOUNT_DONE = ("password", "session", "app", "email", "contact")


def keep_session(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(
        ACCOUNT_COOKIE,
        secret,
        path="/portal",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def signed(request: Request, opened: Opened, target: str) -> Response:
    """Go to `target` with the session just opened in the cookie."""
    response = RedirectResponse(target, status_code=303)
    keep_session(response, request, opened.secret)
    response.delete_cookie(LOGIN_COOKIE, path="/portal/login")
    return response


def signed_out(request: Request) -> Response:
    response = RedirectResponse("/portal/login", status_code=303)
    response.delete_cookie(
        ACCOUNT_COOKIE, path="/portal", httponly=True, samesite="strict", secure=secure(request)
    )
    return response


def person(deps: PortalDeps, request: Request) -> tuple[AccountSession, Account] | None:
    return deps.sign_in().current(request.cookies.get(ACCOUNT_COOKIE, ""))


def next_page(session: AccountSession) -> str:
    if session.stage == "second-factor":
        return "/portal/login/code"
    return "/portal/account/second-factor" if session.stage == "enrol" else "/portal/account"


def account_page(
    deps: PortalDeps, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return render(deps, request, template, status, session=None, **context)


Found = tuple[AccountSession, Account]


def mine(
    deps: PortalDeps, request: Request, found: Found, template: str, status: int = 200, **more: Any
) -> HTMLResponse:
    """A page of the signed-in (or signing-in) account."""
    session, account = found
    return account_page(
        deps, request, template, status, person=account, account_session=session, **more
    )


def posted(deps: PortalDeps, request: Request, form: dict[str, str]) -> Found | Response:
    """The account's session of a post, its CSRF token checked; else where to go."""
    found = person(deps, request)
    if found is None:
        return signed_out(request)
    if not same(form.get("csrf", ""), found[0].csrf):
        t = translator(request)
        title, text = t("message.forbidden"), t("message.form_expired")
        return account_page(deps, request, "portal_message.html", 403, title=title, text=text)
    return found


def password_step(deps: PortalDeps, request: Request, form: dict[str, str]) -> Response:
    t = translator(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    email = form.get("email", "").strip()[:300]
    if not nonce or not same(form.get("csrf", ""), nonce):
        return login_page(deps, request, 403, summary=t("login.expired_account"), email=email)
    try:
        opened = deps.sign_in().begin(
            email,
            form.get("password", ""),
            client_address(request),
            request.headers.get("user-agent", ""),
        )
    except LockedOut as locked:
        page = login_page(
            deps,
            request,
            429,
            summary=t("login.throttled", seconds=locked.retry_after_s),
            email=email,
        )
        page.headers["Retry-After"] = str(locked.retry_after_s)
        return page
    except SignInRefused:
        return login_page(deps, request, 401, account_error=t("login.refused"), email=email)
    return signed(request, opened, next_page(opened.session))


def account_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()
    add_sign_in_routes(router, deps)
    add_enrolment_routes(router, deps)
    add_my_account_routes(router, deps)
    return router


def add_sign_in_routes(router: APIRouter, deps: PortalDeps) -> None:
    @router.post("/login/account")
    def sign_in_with_password(request: Request, form: PostedForm) -> Response:
        return password_step(deps, request, form)

    @router.get("/login/code")
    def code_form(request: Request, sent: str = "") -> Response:
        found = person(deps, request)
        if found is None or found[0].stage != "second-factor":
            return signed_out(request)
        return mine(deps, request, found, "portal_code.html", sent=bool(sent))

    @router.post("/login/code")
    def code(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        t = translator(request)
        try:
            opened = deps.sign_in().finish(found[0], form.get("code", ""))
        except LockedOut as locked:
            seconds = locked.retry_after_s
            error = t("login.throttled", seconds=seconds)
            page = mine(deps, request, found, "portal_code.html", 429, error=error)
            page.headers["Retry-After"] = str(seconds)
            return page
        except SignInRefused:
            return mine(deps, request, found, "portal_code.html", 401, error=t("code.refused"))
        return signed(request, opened, "/portal")

    @router.post("/login/code/resend")
    def resend(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        deps.sign_in().resend_code(found[0])
        return RedirectResponse("/portal/login/code?sent=1", status_code=303)


def add_enrolment_routes(router: APIRouter, deps: PortalDeps) -> None:
    @router.get("/account/second-factor")
    def second_factor(request: Request) -> Response:
        found = person(deps, request)
        if found is None or found[0].stage == "second-factor":
            return signed_out(request)
        return mine(deps, request, found, "portal_enrol.html", step="choose")

    @router.post("/account/second-factor/app")
    def enrol_app(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        enrolment = deps.sign_in().start_totp(found[0])
        qr = Markup(enrolment.qr_svg)  # drawn by qrcode from our own URI: paths only
        return mine(
            deps, request, found, "portal_enrol.html", step="app", seed=enrolment.seed, qr=qr
        )

    @router.post("/account/second-factor/app/confirm")
    def confirm_app(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        t = translator(request)
        try:
            codes, opened = deps.sign_in().confirm_totp(found[0], form.get("code", ""))
        except (SignInRefused, LockedOut):
            error = t("code.refused")
            return mine(deps, request, found, "portal_enrol.html", 401, step="choose", error=error)
        now = (opened.session, found[1]) if opened else found
        page = mine(deps, request, now, "portal_recovery.html", codes=codes)
        if opened is not None:
            keep_session(page, request, opened.secret)
        return page

    @router.post("/account/second-factor/email")
    def enrol_email(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        deps.sign_in().start_email_factor(found[0])
        return mine(deps, request, found, "portal_enrol.html", step="email")

    @router.post("/account/second-factor/email/confirm")
    def confirm_email(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        t = translator(request)
        try:
            opened = deps.sign_in().confirm_email_factor(found[0], form.get("code", ""))
        except (SignInRefused, LockedOut):
            error = t("code.refused")
            return mine(deps, request, found, "portal_enrol.html", 401, step="email", error=error)
        if opened is not None:
            return signed(request, opened, "/portal/account?done=email")
        return RedirectResponse("/portal/account?done=email", status_code=303)


def account_overview(
    deps: PortalDeps, request: Request, found: Found, status: int = 200, **more: Any
) -> HTMLResponse:
    sessions = deps.sign_in().open_sessions(found[0])
    return mine(deps, request, found, "portal_account.html", status, sessions=sessions, **more)


def add_my_account_routes(router: APIRouter, deps: PortalDeps) -> None:
    @router.get("/account")
    def my_account(request: Request, done: str = "") -> Response:
        found = person(deps, request)
        if found is None:
            return signed_out(request)
        if not found[0].signed_in:
            return RedirectResponse(next_page(found[0]), status_code=303)
        return account_overview(deps, request, found, done=done if done in ACCOUNT_DONE else "")

    @router.post("/account/password")
    def change_password(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        t = translator(request)
        errors: dict[str, str] = {}
        if form.get("new_password", "") != form.get("confirm", ""):
            errors["confirm"] = t("password.mismatch")
        else:
            current, new = form.get("current_password", ""), form.get("new_password", "")
            try:
                deps.sign_in().change_password(found[0], current, new)
            except (SignInRefused, LockedOut):
                errors["current_password"] = t("account.wrong_password")
            except InvalidCommand:
                errors["new_password"] = t("password.rule")
            except AccountRefused:
                return signed_out(request)
        if errors:
            return account_overview(deps, request, found, 422, errors=errors, done="")
        return RedirectResponse("/portal/account?done=password", status_code=303)

    @router.post("/account/contact")
    def change_contact(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        try:
            deps.sign_in().change_contact_email(found[0], form.get("contact_email", "")[:300])
        except InvalidCommand:
            errors = {"contact_email": translator(request)("signup.invalid.login_email")}
            return account_overview(deps, request, found, 422, errors=errors, done="")
        return RedirectResponse("/portal/account?done=contact", status_code=303)

    @router.post("/account/sessions/end")
    def end_session(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        ended = form.get("session", "")[:64]
        deps.sign_in().end_session(found[0], ended)
        if ended == found[0].id_sha256:
            return signed_out(request)
        return RedirectResponse("/portal/account?done=session", status_code=303)

    @router.post("/account/logout")
    def logout(request: Request, form: PostedForm) -> Response:
        found = posted(deps, request, form)
        if isinstance(found, Response):
            return found
        deps.sign_in().sign_out(found[0])
        return signed_out(request)
