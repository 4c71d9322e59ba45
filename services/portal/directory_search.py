"""The buyer search of the invoice form: `GET /portal/directory/search?q=` answers it as JSON
(the directory's read side, `services/application/directory.py`) for the form's typeahead
(`static/portal.js`), for the signed-in; without JavaScript the form posts it back
(`entry.py`) and the same search fills the page.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from dataclasses import asdict, dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from facturier.services.application import directory
from facturier.services.portal.deps import PortalDeps

MAX_BUYER_QUERY = 100


@dataclass(frozen=True)
class BuyerSearch:
    """The buyer search of the invoice form: what was typed, what the directory found (shown
    when `searched`), or the choice just made (`picked`, a sentence)."""

    query: str = ""
    results: list[directory.BuyerMatch] = field(default_factory=list)
    searched: bool = False
    picked: str = ""


def find_buyers(deps: PortalDeps, text: str) -> BuyerSearch:
    """The directory's answer to the buyer search of the form (no JavaScript needed)."""
    text = text.strip()[:MAX_BUYER_QUERY]
    if not text:
        return BuyerSearch()
    return BuyerSearch(text, deps.directory().search(text), searched=True)


def directory_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/directory/search")
    def buyer_search(request: Request, q: str = "") -> Response:
        """The buyer search as JSON, for the form's typeahead (`static/portal.js`)."""
        session = deps.sessions.current(request)
        if session is None:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        found = find_buyers(deps, q)
        return JSONResponse(
            {"query": found.query, "results": [asdict(m) for m in found.results]},
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    return router
