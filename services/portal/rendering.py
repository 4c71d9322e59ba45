"""How the portal answers: the page template environment, with `t` (the catalogue,
`i18n.py`) and the formats of the page's language (`formats.py`); the messages (403, 404,
...); the helpers every router shares (language, URLs, posted forms, the CSRF check).

(No `from __future__ import annotations`: `PostedForm` is read by FastAPI at run time.)
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import UploadFile

from facturier.domain.lifecycle import Action
from facturier.services.application import directory
from facturier.services.application.principals import ApiRole
from facturier.services.portal import i18n
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.entry_form import MAX_FORM_BYTES, MAX_FORM_FIELDS
from facturier.services.portal.formats import Formats
from facturier.services.portal.sessions import Session, same

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self';"  # live.js's EventSource on /portal/live
        " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ACTION_NAMES = frozenset(a.value for a in Action)  # the `done=` a page may announce


def page(
    template: str,
    status: int = 200,
    *,
    lang: str = i18n.DEFAULT,
    here: str = "/portal",
    **context: Any,
) -> HTMLResponse:
    formats = Formats(lang)
    t = i18n.translator(lang)
    session = context.get("session")
    # Whose portal it is, as the account sees it (neutral before signing in).
    brand = t(f"portal.name.{session.principal.role}") if session else t("portal.name")
    html = TEMPLATES.get_template(template).render(
        money=formats.money,  # money(value, currency): "1 200,00 €" / "€1,200.00"
        amount=formats.number,  # the number alone, where the currency is shown apart
        rate=formats.rate,
        day=formats.day,
        when=formats.when,  # <time> in Paris time, the UTC instant as its title
        t=t,
        brand=brand,
        lang=lang,
        languages=i18n.LANGUAGES,
        here=here,
        **context,
    )
    headers = {**SECURITY_HEADERS, "Content-Language": lang, "Vary": "Cookie, Accept-Language"}
    return HTMLResponse(html, status_code=status, headers=headers)


def language(request: Request) -> str:
    return i18n.negotiate(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", "")
    )


def translator(request: Request) -> Callable[..., str]:
    """`t` in the request's language."""
    return i18n.translator(language(request))


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def local(target: str, fallback: str) -> str:
    """`target` if it is a page of the portal (never another site: no open redirect)."""
    if target.startswith("/portal") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


def with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name] + [(name, value)]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def render(
    deps: PortalDeps, request: Request, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    session = context.get("session")
    if isinstance(session, Session) and session.principal.role is ApiRole.BUYER:
        # A buyer signs in for a structure: the page names it.
        siret = session.principal.scope
        with deps.pool().connection() as conn:
            context.setdefault("structure_name", directory.names(conn, [siret]).get(siret))
    return page(template, status, lang=language(request), here=here(request), **context)


def to_login() -> RedirectResponse:
    return RedirectResponse("/portal/login", status_code=303)


def message(
    deps: PortalDeps,
    request: Request,
    status: int,
    title: str,
    text: str,
    session: Session | None = None,
) -> HTMLResponse:
    return render(
        deps, request, "portal_message.html", status, title=title, text=text, session=session
    )


def forbidden(
    deps: PortalDeps, request: Request, session: Session | None, text: str
) -> HTMLResponse:
    t = translator(request)
    return message(deps, request, 403, t("message.forbidden"), text, session)


def not_found(deps: PortalDeps, request: Request, session: Session | None) -> HTMLResponse:
    t = translator(request)
    title, text = t("message.not_found"), t("message.not_found_text")
    return message(deps, request, 404, title, text, session)


def checked(deps: PortalDeps, request: Request, form: Mapping[str, str]) -> Session | HTMLResponse:
    """The session of a state-changing post, its CSRF token checked; or the 403 page."""
    t = translator(request)
    session = deps.sessions.current(request)
    if session is None:
        return forbidden(deps, request, None, t("message.session_ended"))
    if not same(form.get("csrf", ""), session.csrf):
        return forbidden(deps, request, session, t("message.form_expired"))
    return session


async def posted_form(request: Request) -> dict[str, str]:
    """The posted fields (the last value of a repeated name; files are refused)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "a form post states its length")
    if int(length) > MAX_FORM_BYTES:
        raise HTTPException(413, f"a form post is at most {MAX_FORM_BYTES // 1024} KiB")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    return {key: value for key, value in form.multi_items() if isinstance(value, str)}


PostedForm = Annotated[dict[str, str], Depends(posted_form)]


async def posted_form_and_file(
    request: Request, max_file_bytes: int
) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """A form that may carry one file (`enctype="multipart/form-data"`): its fields, as
    `posted_form` reads them, and the file's name and bytes (None: no file chosen)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(411, "a form post states its length")
    if int(length) > MAX_FORM_BYTES + max_file_bytes:
        raise HTTPException(413, f"a file is at most {max_file_bytes // 1_000_000} MB")
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile) and v.filename]
    if not files:
        return fields, None
    content = await files[0].read(max_file_bytes + 1)
    if len(content) > max_file_bytes:
        raise HTTPException(413, f"a file is at most {max_file_bytes // 1_000_000} MB")
    return fields, (str(files[0].filename)[:255], content)
