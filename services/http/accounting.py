"""A buyer structure's books: its FEC (fichier des écritures comptables), from the
accounting journal.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from facturier.projections.accounting.fec import fec_filename, fetch_fec_lines, format_fec
from facturier.services.application.principals import structure_reader
from facturier.services.http.dependencies import Caller, Pool
from facturier.services.http.directory import SiretPath
from facturier.services.web_common import attachment

router = APIRouter()


@router.get("/structures/{siret}/fec", tags=["accounting"], response_class=PlainTextResponse)
def fec(
    siret: SiretPath,
    caller: Caller,
    pool: Pool,
    year: Annotated[int, Query(ge=1900, le=2999)],
    separator: Annotated[str, Query(pattern="^(pipe|tab)$")] = "pipe",
) -> PlainTextResponse:
    """The structure's FEC for one fiscal (calendar) year, from the accounting journal."""
    structure_reader(caller, siret)
    with pool.connection() as conn:
        lines = fetch_fec_lines(conn, siret, year)
    text = format_fec(lines, "|" if separator == "pipe" else "tab")
    return PlainTextResponse(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": attachment(fec_filename(siret, year))},
    )
