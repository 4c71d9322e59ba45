"""Operations: liveness, the pipeline's health, Prometheus metrics.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from typing import Any

import psycopg
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from facturier.services.health import report as health_report
from facturier.services.http.dependencies import Deps

router = APIRouter(tags=["operations"])


@router.get("/health/live")
def alive() -> dict[str, str]:
    """This API process answers (a liveness probe)."""
    return {"status": "ok"}


@router.get("/health")
def health(response: Response, deps: Deps) -> dict[str, Any]:
    """Every stage of the pipeline: each service's instances, status (ok, failing,
    stuck, down, stopped) and lag, and the dead letters kept. 503 when a stage is not
    ok (services/health.py)."""
    try:
        with deps.pool.connection(timeout=5) as conn:
            found = health_report(conn, deps.settings.api.health_stuck_s)
    except psycopg.Error as error:
        response.status_code = 503
        return {"status": "unhealthy", "database": f"unreachable: {error}"[:300]}
    if found["status"] != "ok":
        response.status_code = 503
    return found


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
