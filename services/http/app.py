"""HTTP API (FastAPI): submit invoices, act on them, read their tracking and their history.

Writes go to the event store through the invoicing application; reads of status, lists and
timelines come from the tracking read model, which the projection fills from Kafka.
"""

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from facturier.adapters import metrics
from facturier.adapters.documents import DocumentStore
from facturier.adapters.postgres import apply_schema, pool
from facturier.config.settings import Settings
from facturier.domain.invoice import Invoice
from facturier.domain.lifecycle import (
    STATUS_INFO,
    TRANSITION_BY_ACTION,
    Action,
    LifecycleError,
    Status,
    allowed_actions,
)
from facturier.domain.model import InvalidCommand, InvalidInvoice
from facturier.domain.payment_terms import DEFAULT_PAYMENT_DAYS, paris_date
from facturier.domain.text import is_siret
from facturier.projections.accounting.fec import fec_filename, fetch_fec_lines, format_fec
from facturier.projections.payment_delays.projection import fetch_state
from facturier.projections.tracking import queries as views
from facturier.services.application.actions import (
    ActionForbidden,
    NoBody,
    arguments,
    authorise,
    body_of,
)
from facturier.services.application.directory import (
    DirectoryApp,
    DirectoryFileError,
    read_document,
    structure_view,
)
from facturier.services.application.flows import FlowIntake
from facturier.services.application.invoicing import (
    ConcurrentChange,
    InvoiceNotFound,
    InvoicingApp,
    RoutingRefused,
)
from facturier.services.application.receipts import NotReceived
from facturier.services.application.receipts import receipt as receipt_of
from facturier.services.application.submissions import Submissions
from facturier.services.health import report as health_report
from facturier.services.http.auth import (
    ApiRole,
    Locked,
    Principal,
    Refusal,
    ThrottleLimits,
    TokenGuard,
    client_address,
)
from facturier.services.http.input_guard import BadInput, InputGuard
from facturier.services.http.live import LiveHub, live_routes
from facturier.services.http.notifications import Subscriptions, notification_routes
from facturier.services.http.responses import (
    SecurityHeaders,
    attachment,
    bad_input,
    command_result,
    error,
    problem,
    validation_problem,
)
from facturier.services.http.submissions import intake_routes, refusal
from facturier.services.portal import i18n
from facturier.services.portal.routes import page, web_routes

# ---------------------------------------------------------------- request bodies


class PaymentTermsIn(NoBody):
    payment_days: int = Field(
        ge=1, le=365, description="legal payment period: 30 (State, local authorities), 50"
    )


SiretPath = Annotated[str, Path(pattern=r"^[0-9]{14}$", examples=["11000201100044"])]

# ---------------------------------------------------------------- errors


def _not_found(invoice_id: uuid.UUID) -> HTTPException:
    return error(404, "NOT_FOUND", f"no invoice {invoice_id} visible to this token")


# ---------------------------------------------------------------- app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    state: dict[str, Any] = {}
    live = LiveHub(settings.postgres.dsn)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        apply_schema(settings.postgres, "auth", "tracking", "accounting", "payment_delays", "web")
        state["directory"] = DirectoryApp(settings)
        routing = state["directory"] if settings.intake.routing == "directory" else None
        state["invoicing"] = InvoicingApp(settings, directory=routing)
        state["pool"] = pool(settings.postgres, "api")
        state["documents"] = DocumentStore(settings.postgres, state["pool"])
        state["submissions"] = Submissions(state["invoicing"], state["documents"], settings)
        state["flows"] = FlowIntake(state["invoicing"], state["documents"], settings)
        await live.start()
        yield
        await live.stop()
        state["pool"].close()
        state["invoicing"].close()
        state["directory"].close()

    app = FastAPI(
        title="facturier",
        version="0.1.0",
        summary="Submit invoices to public buyers and follow each one until it is paid.",
        lifespan=lifespan,
    )
    app.state.live = live  # the server ends its streams when asked to stop (runtime.py)
    bearer = HTTPBearer(auto_error=False)

    guard = TokenGuard(lambda: state["pool"], ThrottleLimits.of(settings.api))

    def principal(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if credentials is None:
            raise error(401, "UNAUTHENTICATED", "missing bearer token")
        found = guard.check(credentials.credentials, client_address(request), "api")
        if isinstance(found, Locked):
            raise HTTPException(
                429,
                {"code": "TOO_MANY_ATTEMPTS", "message": found.text},
                headers={"Retry-After": str(found.retry_after_s)},
            )
        if isinstance(found, Refusal):
            raise error(401, "UNAUTHENTICATED", found.text)
        return found

    Caller = Annotated[Principal, Depends(principal)]

    def invoicing() -> InvoicingApp:
        app_: InvoicingApp = state["invoicing"]
        return app_

    def visible_invoice(invoice_id: uuid.UUID, caller: Principal) -> Invoice:
        """The invoice as it is now, or 404 alike when it does not exist or lies outside the
        caller's scope (a token cannot probe for other parties' invoices)."""
        try:
            invoice = invoicing().get(invoice_id)
        except InvoiceNotFound:
            raise _not_found(invoice_id) from None
        if not caller.sees(invoice.data.supplier_id, invoice.data.recipient_siret):
            raise _not_found(invoice_id)
        return invoice

    app.include_router(
        intake_routes(
            principal,
            visible_invoice,
            submissions=lambda: state["submissions"],
            flows=lambda: state["flows"],
        )
    )
    app.include_router(live_routes(lambda: live, principal, pool=lambda: state["pool"]))
    subscriptions = Subscriptions(settings, pool=lambda: state["pool"])
    app.include_router(notification_routes(principal, subscriptions))
    app.include_router(
        web_routes(
            pool=lambda: state["pool"],
            submissions=lambda: state["submissions"],
            flows=lambda: state["flows"],
            subscriptions=subscriptions,
            guard=guard,
        )
    )

    @app.middleware("http")
    async def measure(
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

    # Outermost last: every answer, the guard's refusals included, gets the headers.
    app.add_middleware(
        InputGuard, render=_refusal, max_body=settings.intake.max_file_mb * 1_000_000
    )
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        if _portal(request.url.path):  # a portal URL that names nothing (a bad id)
            return portal_page(request, 404)
        return validation_problem(error.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if isinstance(error.detail, dict):
            return JSONResponse({"detail": error.detail}, error.status_code, error.headers)
        if error.status_code == 404 and _portal(request.url.path):
            return portal_page(request, 404)
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "INVALID")
        body = problem(error.status_code, code, str(error.detail))
        body.headers.update(error.headers or {})
        return body

    @app.exception_handler(InvalidCommand)
    async def invalid_command(_: Request, error: InvalidCommand) -> JSONResponse:
        if isinstance(error, InvalidInvoice):
            return refusal(list(error.problems))
        return problem(422, "INVALID", error.message, error.field)

    @app.exception_handler(RoutingRefused)
    async def misrouted(_: Request, error: RoutingRefused) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": {
                    "code": error.findings[0].reason_code,
                    "message": str(error),
                    "errors": [
                        {
                            "invoice": data.number,
                            "code": f.reason_code,
                            "field": f.field,
                            "message": f.message,
                        }
                        for data, findings in error.refusals
                        for f in findings
                    ],
                }
            },
        )

    @app.exception_handler(DirectoryFileError)
    async def bad_directory(_: Request, error: DirectoryFileError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": {"code": "INVALID", "message": str(error)}}
        )

    @app.post("/directory", tags=["directory"])
    def load_directory(document: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Admin: register or update public buyer structures, their services and known EJs
        (the JSON format of `facturier directory load`). Only differences are recorded."""
        if caller.role is not ApiRole.ADMIN:
            raise error(403, "FORBIDDEN", "only an admin token changes the directory")
        report = state["directory"].load(read_document(document, "request"), actor=caller.actor)
        return asdict(report)

    @app.get("/directory/structures/{siret}", tags=["directory"])
    def structure(siret: SiretPath, caller: Caller) -> dict[str, Any]:
        """A buyer structure as the directory knows it (any authenticated caller: suppliers
        need it to address their invoices)."""
        found = state["directory"].find(siret)
        if found is None:
            raise error(404, "DEST_INC", f"no structure {siret} in the directory")
        return structure_view(found)

    @app.exception_handler(LifecycleError)
    async def not_allowed(_: Request, error: LifecycleError) -> JSONResponse:
        code = "CONCURRENT_CHANGE" if isinstance(error, ConcurrentChange) else "ACTION_NOT_ALLOWED"
        return JSONResponse(
            status_code=409, content={"detail": {"code": code, "message": str(error)}}
        )

    @app.get("/health/live", tags=["operations"])
    def alive() -> dict[str, str]:
        """This API process answers (a liveness probe)."""
        return {"status": "ok"}

    @app.get("/health", tags=["operations"])
    def health(response: Response) -> dict[str, Any]:
        """Every stage of the pipeline: each service's instances, status (ok, failing,
        stuck, down, stopped) and lag, and the dead letters kept. 503 when a stage is not
        ok (services/health.py)."""
        try:
            with state["pool"].connection(timeout=5) as conn:
                found = health_report(conn, settings.api.health_stuck_s)
        except psycopg.Error as error:
            response.status_code = 503
            return {"status": "unhealthy", "database": f"unreachable: {error}"[:300]}
        if found["status"] != "ok":
            response.status_code = 503
        return found

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def _act(
        invoice_id: uuid.UUID,
        action: Action,
        params: dict[str, Any],
        caller: Principal,
        request: Request,
    ) -> dict[str, Any]:
        app_ = invoicing()
        visible_invoice(invoice_id, caller)
        _authorise(caller, action)
        correlation_id = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        invoice = app_.act(
            invoice_id, action, actor=caller.actor, correlation_id=correlation_id, **params
        )
        return command_result(invoice, correlation_id)

    for action in Action:
        _add_action_route(app, action, body_of(action), _act, Caller)

    @app.get("/invoices/{invoice_id}", tags=["tracking"])
    def tracking(invoice_id: uuid.UUID, caller: Caller) -> dict[str, Any]:
        """Current status and full timeline, from the tracking view."""
        with state["pool"].connection() as conn:
            row = views.invoice(conn, invoice_id)
            if row is None or not caller.sees(row["supplier_id"], row["recipient_siret"]):
                raise _not_found(invoice_id)
            row["timeline"] = views.timeline(conn, invoice_id)
        row["allowed_actions"] = [a.value for a in allowed_actions(row["status"])]
        return row

    @app.get("/invoices", tags=["tracking"])
    def list_invoices(
        caller: Caller,
        supplier_id: str | None = None,
        recipient_siret: str | None = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before_submitted_at: datetime | None = None,
        before_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """The invoices the token sees (a supplier's, an operator's mandates', those addressed
        to a buyer, everyone's for auditors and admins), newest first, keyset pagination.
        `supplier_id` and `recipient_siret` narrow the list within that scope."""
        scope = caller.invoices
        suppliers = scope.suppliers
        if supplier_id is not None:
            suppliers = (supplier_id,) if suppliers is None or supplier_id in suppliers else ()
        recipient = scope.recipient
        if recipient_siret is not None:
            if recipient is not None and recipient != recipient_siret:
                suppliers = ()  # another structure's invoices: none of them
            recipient = recipient_siret
        before = (before_submitted_at, before_id) if before_submitted_at and before_id else None
        with state["pool"].connection() as conn:
            rows = views.invoices(
                conn,
                suppliers=suppliers,
                recipient_siret=recipient,
                status=status.value if status else None,
                limit=limit,
                before=before,
            )
        page: dict[str, Any] = {"invoices": rows}
        if len(rows) == limit:
            last = rows[-1]
            page["next"] = {
                "before_submitted_at": last["submitted_at"],
                "before_id": last["invoice_id"],
            }
        return page

    @app.get("/invoices/{invoice_id}/events", tags=["audit"])
    def history(invoice_id: uuid.UUID, caller: Caller) -> dict[str, Any]:
        """Every event recorded for the invoice, from the event store itself."""
        visible_invoice(invoice_id, caller)
        events = invoicing().history(invoice_id)
        return {"invoice_id": invoice_id, "events": [_event_json(e) for e in events]}

    @app.get("/invoices/{invoice_id}/as-of", tags=["audit"])
    def as_of(invoice_id: uuid.UUID, at: datetime, caller: Caller) -> dict[str, Any]:
        """The invoice as it was at instant `at` (ISO 8601 with offset), rebuilt from the
        event store."""
        if at.tzinfo is None:
            raise error(422, "INVALID", "give `at` with its UTC offset", "at")
        visible_invoice(invoice_id, caller)
        try:
            invoice = invoicing().as_of(invoice_id, at)
        except InvoiceNotFound:
            raise _not_found(invoice_id) from None
        info = STATUS_INFO[invoice.status]
        return {
            "invoice_id": str(invoice.id),
            "at": at,
            "version": invoice.version,
            "status": invoice.status.value,
            "reform_code": info.reform_code,
            "summary": info.summary.value,
            "modified_on": invoice.modified_on,
            "data": asdict(invoice.data),
        }

    @app.get("/invoices/{invoice_id}/payment", tags=["payment"])
    def payment(invoice_id: uuid.UUID, caller: Caller) -> dict[str, Any]:
        """Legal payment deadline, days elapsed, late days and, once paid late, the interest
        and the €40 indemnity owed (from the payment-delays projection)."""
        with state["pool"].connection() as conn:
            found = fetch_state(conn, invoice_id)
        if found is None or not caller.sees(found.supplier_id, found.recipient_siret):
            raise _not_found(invoice_id)
        return found.view(paris_date(datetime.now(UTC)))

    @app.get("/invoices/{invoice_id}/receipt", tags=["payment"])
    def receipt(invoice_id: uuid.UUID, caller: Caller) -> dict[str, Any]:
        """Reception acknowledgment (accusé de réception): when the invoice was made
        available to the structure it is addressed to, read from the event store."""
        invoice = visible_invoice(invoice_id, caller)
        try:
            return receipt_of(invoicing(), invoice)
        except NotReceived as missing:
            raise error(409, "NOT_RECEIVED", str(missing)) from None

    def _structure_reader(caller: Principal, siret: str) -> None:
        if not caller.reads_structure(siret):
            raise error(403, "FORBIDDEN", f"only structure {siret}, auditors and admins")
        if not is_siret(siret):
            raise error(422, "SIRET_ERR", f"{siret} is not a valid SIRET", "siret")

    @app.put("/structures/{siret}/payment-terms", tags=["payment"])
    def set_payment_terms(siret: SiretPath, body: PaymentTermsIn, caller: Caller) -> dict[str, Any]:
        """Admin: the structure's legal payment period (30 days by default, 50 for public
        hospitals). Applies to invoices it receives from now on."""
        if caller.role is not ApiRole.ADMIN:
            raise error(403, "FORBIDDEN", "only an admin sets payment terms")
        _structure_reader(caller, siret)
        with state["pool"].connection() as conn:
            conn.execute(
                "INSERT INTO structure_settings (siret, payment_days, updated_by)"
                " VALUES (%s, %s, %s) ON CONFLICT (siret) DO UPDATE SET"
                " payment_days = EXCLUDED.payment_days, updated_at = now(),"
                " updated_by = EXCLUDED.updated_by",
                (siret, body.payment_days, caller.actor),
            )
        return {"siret": siret, "payment_days": body.payment_days}

    @app.get("/structures/{siret}/payment-terms", tags=["payment"])
    def get_payment_terms(siret: SiretPath, caller: Caller) -> dict[str, Any]:
        _structure_reader(caller, siret)
        with state["pool"].connection() as conn:
            row = conn.execute(
                "SELECT payment_days FROM structure_settings WHERE siret = %s", (siret,)
            ).fetchone()
        return {"siret": siret, "payment_days": row[0] if row else DEFAULT_PAYMENT_DAYS}

    @app.get("/structures/{siret}/fec", tags=["accounting"], response_class=PlainTextResponse)
    def fec(
        siret: SiretPath,
        caller: Caller,
        year: Annotated[int, Query(ge=1900, le=2999)],
        separator: Annotated[str, Query(pattern="^(pipe|tab)$")] = "pipe",
    ) -> PlainTextResponse:
        """The structure's FEC for one fiscal (calendar) year, from the accounting journal."""
        _structure_reader(caller, siret)
        with state["pool"].connection() as conn:
            lines = fetch_fec_lines(conn, siret, year)
        text = format_fec(lines, "|" if separator == "pipe" else "tab")
        return PlainTextResponse(
            text,
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": attachment(fec_filename(siret, year))},
        )

    return app


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


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


def _refusal(path: str, bad: BadInput) -> Callable[..., Awaitable[None]]:
    """The input guard's answer: a problem (JSON), or a page on the portal."""
    if _portal(path):

        async def as_page(scope: Any, receive: Any, send: Any) -> None:
            request = Request(scope, receive)
            await portal_page(request, bad.status, f"{bad.field}: {bad.message}")(
                scope, receive, send
            )

        return as_page
    return bad_input(bad)


def _add_action_route(
    app: FastAPI,
    action: Action,
    body_model: type[BaseModel],
    act: Callable[..., dict[str, Any]],
    caller_type: Any,
) -> None:
    transition = TRANSITION_BY_ACTION[action]
    sources = ", ".join(sorted(transition.sources))

    def endpoint(
        invoice_id: uuid.UUID, request: Request, caller: Any, body: Any = None
    ) -> dict[str, Any]:
        params = arguments(body) if body is not None else {}
        return act(invoice_id, action, params, caller, request)

    # FastAPI reads the parameter types from the annotations: each action gets its own body.
    endpoint.__annotations__.update(caller=caller_type, body=body_model | None)

    app.post(
        f"/invoices/{{invoice_id}}/{action.value}",
        tags=["lifecycle"],
        name=action.value,
        summary=f"{action.value} -> {transition.target}",
        description=f"Records {transition.event}. Allowed from: {sources}. By: {transition.by}.",
    )(endpoint)


def _authorise(caller: Principal, action: Action) -> None:
    try:
        authorise(caller, action)
    except ActionForbidden as forbidden:
        raise error(403, "FORBIDDEN", str(forbidden)) from None


def _event_json(event: Any) -> dict[str, Any]:
    attributes = {
        k: v
        for k, v in vars(event).items()
        if k not in ("originator_id", "originator_version", "timestamp", "originator_topic")
    }
    if "data" in attributes:
        attributes["data"] = asdict(attributes["data"])
    return {
        "version": event.originator_version,
        "type": type(event).__name__,
        "timestamp": event.timestamp,
        "attributes": attributes,
    }
