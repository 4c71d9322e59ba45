"""`GET /portal/live`: the live status push for the portal's pages (session cookie), read by
`static/live.js`; the stream and its format are services/live_hub.py's."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from facturier.services.live_hub import LiveHub, full, respond
from facturier.services.portal import i18n
from facturier.services.portal.sessions import SESSION_COOKIE, Sessions

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)]


def labels(key: str) -> dict[str, str]:
    """A catalogue entry in every language of the portal, as the pages' `t(key)` shows it."""
    return {code: i18n.translator(code)(key) for code in i18n.CODES}


def add_labels(change: dict[str, Any]) -> None:
    """What a page shows of a change, in every language: its plain-word status and the
    Chorus status described (the API's clients get them too)."""
    change["labels"] = labels(f"summary.{change['summary']}")
    change["status_labels"] = labels(f"status.{change['status']}")


def portal_live_routes(hub: Callable[[], LiveHub], pool: Callable[[], ConnectionPool]) -> APIRouter:
    router = APIRouter()
    sessions = Sessions(pool)

    @router.get("/portal/live", include_in_schema=False)
    async def portal_live(request: Request, last_event_id: LastEventId = None) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id or len(session_id) > 128:
            return Response(status_code=401)
        session = await run_in_threadpool(sessions.find, session_id)
        if session is None:
            return Response(status_code=401)
        if hub().subscribers >= hub().max_subscribers:
            return full()

        async def still_valid() -> bool:
            return await run_in_threadpool(sessions.find, session_id) is not None

        return respond(hub(), hub().subscribe(session.principal, last_event_id), still_valid)

    return router
