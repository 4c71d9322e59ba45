"""HTTP API (FastAPI): submit invoices, act on them, read their tracking and their history.

Writes go to the event store through the application layer; reads of status, lists and
timelines come from the tracking read model, which the projection fills from Kafka. The app
is assembled here: its collaborators (`dependencies.py`), one router per resource, one error
mapping (`errors.py`), the middleware; and the portal, served by the same process.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from facturier.adapters import metrics
from facturier.config.settings import Settings
from facturier.services.http import (
    accounting,
    actions,
    directory,
    errors,
    invoices,
    notifications,
    operations,
    submissions,
)
from facturier.services.http.dependencies import Dependencies, principal
from facturier.services.http.input_guard import BadInput, InputGuard
from facturier.services.http.live import LiveHub, live_routes
from facturier.services.http.responses import SecurityHeaders
from facturier.services.portal import i18n
from facturier.services.portal.pages import page, web_routes


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    deps = Dependencies(settings, LiveHub(settings.dsn))

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
    app.include_router(
        web_routes(
            pool=lambda: deps.pool,
            submissions=lambda: deps.running.submissions,
            flows=lambda: deps.running.flows,
            subscriptions=deps.subscriptions,
            guard=deps.guard,
        )
    )
    for resource in (directory, operations, actions, invoices, accounting):
        app.include_router(resource.router)
    app.middleware("http")(_measure)
    # Outermost last: every answer, the guard's refusals included, gets the headers.
    max_body = deps.settings.max_file_mb * 1_000_000
    app.add_middleware(InputGuard, render=_refusal, max_body=max_body)
    app.add_middleware(SecurityHeaders)
    errors.install(app, page_for=_portal_page_for)
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


def _portal(path: str) -> bool:
    return path == "/portal" or path.startswith("/portal/")


def portal_page(request: Request, status: int, text: str = "") -> HTMLResponse:
    """A page of the portal for a request no route answered (404) or the guard refused."""
    t = i18n.translator(
        i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", ""))
    )
    if status == 404:
        title, text = t("message.page_not_found"), t("message.page_not_found_text")
    else:
        title = t("message.bad_input")
    return page("portal_message.html", status, title=title, text=text, session=None)


def _portal_page_for(request: Request, status: int) -> Response | None:
    return portal_page(request, status) if _portal(request.url.path) else None


def _refusal(path: str, bad: BadInput) -> Callable[..., Awaitable[None]]:
    """The input guard's answer: a problem (JSON), or a page on the portal."""
    if _portal(path):

        async def as_page(scope: Any, receive: Any, send: Any) -> None:
            request = Request(scope, receive)
            await portal_page(request, bad.status, f"{bad.field}: {bad.message}")(
                scope, receive, send
            )

        return as_page
    return errors.bad_input(bad)
