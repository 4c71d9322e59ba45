"""The portal's answer to a request no route answered (404) or that the input guard refused:
a page in the visitor's language, not a JSON problem."""

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from facturier.services.portal import i18n
from facturier.services.portal.rendering import page


def is_portal(path: str) -> bool:
    return path == "/portal" or path.startswith("/portal/")


def portal_page(request: Request, status: int, text: str = "") -> HTMLResponse:
    t = i18n.translator(
        i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", ""))
    )
    if status == 404:
        title, text = t("message.page_not_found"), t("message.page_not_found_text")
    else:
        title = t("message.bad_input")
    return page("portal_message.html", status, title=title, text=text, session=None)


def page_for(request: Request, status: int, text: str = "") -> Response | None:
    """The page for a portal request; None for any other (it gets the API's JSON problem)."""
    return portal_page(request, status, text) if is_portal(request.url.path) else None
