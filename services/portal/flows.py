"""`GET /portal/flows/{id}/report`: the processing report of a flow (the JSON API's
`GET /flows/{id}/report`), with the session instead of a bearer token.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facturier.domain.flow import FlowStatus
from facturier.services.application.flow_reports import flow_report, flow_visible
from facturier.services.portal.deps import PortalDeps
from facturier.services.portal.rendering import not_found, render, to_login


def flow_routes(deps: PortalDeps) -> APIRouter:
    router = APIRouter()

    @router.get("/flows/{flow_id}/report")
    def flow_page(flow_id: uuid.UUID, request: Request) -> Response:
        """The processing report of a flow (`GET /flows/{id}/report`'s, with the session)."""
        session = deps.sessions.current(request)
        if session is None:
            return to_login()
        try:
            flow = deps.flows().get(flow_id) if deps.flows is not None else None
        except LookupError:
            flow = None
        if flow is None or not flow_visible(flow, session.principal):
            return not_found(deps, request, session)
        report = flow_report(flow)
        final = FlowStatus(report["status"]).is_final
        return render(
            deps, request, "portal_flow.html", session=session, report=report, final=final
        )

    return router
