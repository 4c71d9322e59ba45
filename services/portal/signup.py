"""The pages before an account can sign in: sign-up, the activation link (choosing the
password), a new link, and the forgotten password (its link, the new password).

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)

Every form is protected by a double-submit cookie (`sessions.form_nonce`). The answers never
tell whether an address has an account: the mail does (`services/application/accounts.py`).
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from facturier.domain.accounts import AccountRefused
from facturier.domain.model import InvalidCommand
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import PostedForm, language, render, translator
from facturier.services.portal.sessions import form_nonce, form_nonce_ok, set_form_nonce

MAX_TOKEN = 200


def public_page(
    deps: PortalDeps, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page with a public form: its nonce in the page and in the cookie."""
    nonce = form_nonce(request)
    response = render(deps, request, template, status, csrf=nonce, session=None, **context)
    set_form_nonce(response, request, nonce)
    return response


def expired_form(deps: PortalDeps, request: Request, template: str, **context: Any) -> Response:
    t = translator(request)
    return public_page(deps, request, template, 403, summary=t("public.expired"), **context)


def done(deps: PortalDeps, request: Request, title: str, text: str) -> HTMLResponse:
    return render(deps, request, "portal_message.html", title=title, text=text, session=None)


def password_page(
    deps: PortalDeps, request: Request, purpose: str, token: str, status: int = 200, **more: Any
) -> HTMLResponse:
    """Choosing a password: after the activation link (`activate`) or a reset (`reset`)."""
    return public_page(
        deps, request, "portal_password.html", status, purpose=purpose, token=token, **more
    )


def chosen_password(
    deps: PortalDeps, request: Request, form: dict[str, str], purpose: str
) -> Response:
    t = translator(request)
    token = form.get("token", "")[:MAX_TOKEN]
    if not form_nonce_ok(request, form):
        return expired_form(deps, request, "portal_password.html", purpose=purpose, token=token)
    password = form.get("password", "")
    if password != form.get("confirm", ""):
        return password_page(
            deps, request, purpose, token, 422, errors={"confirm": t("password.mismatch")}
        )
    try:
        if purpose == "activate":
            deps.registration().activate(token, password)
        else:
            deps.registration().reset_password(token, password)
    except InvalidCommand as invalid:
        problem = t("password.rule")
        return password_page(
            deps, request, purpose, token, 422, errors={"password": problem}, detail=invalid.message
        )
    except AccountRefused:
        page = "activate" if purpose == "activate" else "forgot"
        return public_page(
            deps, request, "portal_email.html", 410, purpose=page, summary=t("link.invalid")
        )
    return done(deps, request, t(f"password.done.{purpose}"), t(f"password.done_text.{purpose}"))


def signup_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/signup")
    def signup_form(request: Request) -> Response:
        return public_page(deps, request, "portal_signup.html", posted={}, errors={})

    @router.post("/signup")
    def signup(request: Request, form: PostedForm) -> Response:
        t = translator(request)
        fields = ("name", "login_email", "contact_email")
        posted = {k: form.get(k, "").strip()[:300] for k in fields}
        if not form_nonce_ok(request, form):
            return expired_form(deps, request, "portal_signup.html", posted=posted, errors={})
        try:
            deps.registration().sign_up(
                posted["login_email"], posted["contact_email"], posted["name"], language(request)
            )
        except InvalidCommand as invalid:
            errors = {invalid.field: t(f"signup.invalid.{invalid.field}")}
            return public_page(
                deps, request, "portal_signup.html", 422, posted=posted, errors=errors
            )
        return done(
            deps, request, t("signup.sent"), t("signup.sent_text", email=posted["login_email"])
        )

    @router.get("/activate")
    def activation_form(request: Request, token: str = "") -> Response:
        return password_page(deps, request, "activate", token[:MAX_TOKEN])

    @router.post("/activate")
    def activate(request: Request, form: PostedForm) -> Response:
        return chosen_password(deps, request, form, "activate")

    @router.get("/password/reset")
    def reset_form(request: Request, token: str = "") -> Response:
        return password_page(deps, request, "reset", token[:MAX_TOKEN])

    @router.post("/password/reset")
    def reset(request: Request, form: PostedForm) -> Response:
        return chosen_password(deps, request, form, "reset")

    for purpose in ("activate", "forgot"):
        add_link_request(router, deps, purpose)
    return router


def add_link_request(router: APIRouter, deps: PortalDeps, purpose: str) -> None:
    """`/portal/activate/resend` (a new activation link) and `/portal/password/forgot` (a
    reset link): one address asked for, one answer whatever it is."""
    path = "/activate/resend" if purpose == "activate" else "/password/forgot"

    @router.get(path, name=f"{purpose}_link_form")
    def link_form(request: Request) -> Response:
        return public_page(deps, request, "portal_email.html", purpose=purpose)

    @router.post(path, name=f"{purpose}_link")
    def link(request: Request, form: PostedForm) -> Response:
        t = translator(request)
        email = form.get("email", "").strip()[:300]
        if not form_nonce_ok(request, form):
            return expired_form(deps, request, "portal_email.html", purpose=purpose)
        if email:
            if purpose == "activate":
                deps.registration().resend_activation(email)
            else:
                deps.registration().request_reset(email)
        return done(deps, request, t(f"link.sent.{purpose}"), t("link.sent_text", email=email))
