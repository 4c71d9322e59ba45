"""HTTP API (FastAPI): submit invoices, act on them, read their tracking and their history.

Writes go to the event store through the application layer; reads of status, lists and
timelines come from the tracking read model, which the projection fills from Kafka. The app
is assembled here: its collaborators (`dependencies.py`), one router per resource, one error
mapping (`errors.py`), the middleware. The portal's routes join it in the composition root
(services/bootstrap.py): the same process serves both.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from facturier.adapters import metrics
from facturier.services.http import (
    accounting,
    actions,
    directory,
    errors,
    invoices,
    notifications,
    oauth,
    operations,
    submissions,
)
from facturier.services.http.dependencies import Dependencies, principal
from facturier.services.http.input_guard import BadInput, InputGuard
from facturier.services.http.live import live_routes
from facturier.services.http.responses import SecurityHeaders


def create_app(
    deps: Dependencies,
    rooms: Sequence[APIRouter] = (),
    page_for: errors.PageFor = lambda request, status, text: None,
) -> FastAPI:
    """The API over `deps`, with the routes of the other rooms the same process serves
    (the portal's) and their pages for what no route answers (services/bootstrap.py)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        deps.start()
        await deps.live.start()
        yield
        await deps.live.stop()
        deps.close()

    app = FastAPI(
        title="facturier",
        version="0.1.0",
        summary="Submit invoices to public buyers and follow each one until it is paid.",
        lifespan=lifespan,
    )
    app.state.dependencies = deps
    app.state.live = deps.live  # the server ends its streams when asked to stop (runtime.py)
    app.include_router(submissions.router)
    app.include_router(live_routes(lambda: deps.live, principal, pool=lambda: deps.pool))
    app.include_router(notifications.router)
    for room in rooms:
        app.include_router(room)
    for resource in (directory, operations, oauth, actions, invoices, accounting):
        app.include_router(resource.router)
    app.middleware("http")(_measure)
    # Outermost last: every answer, the guard's refusals included, gets the headers.
    max_body = deps.settings.intake.max_file_mb * 1_000_000
    app.add_middleware(InputGuard, render=_refusal(page_for), max_body=max_body)
    app.add_middleware(SecurityHeaders)
    errors.install(app, page_for)
    return app


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


async def _measure(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    # Labels from a known set only: a client must not mint new series (memory) at will.
    method = request.method if request.method in _METHODS else "OTHER"
    metrics.HTTP_LATENCY.labels(method, path, str(response.status_code)).observe(
        time.perf_counter() - started
    )
    return response


def _refusal(page_for: errors.PageFor) -> Callable[[str, BadInput], ASGIApp]:
    """The input guard's answer: a problem (JSON), or the page of the room that gives one."""

    def render(path: str, bad: BadInput) -> ASGIApp:
        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive)
            found = page_for(request, bad.status, f"{bad.field}: {bad.message}")
            await (found or errors.bad_input(bad))(scope, receive, send)

        return answer

    return render
