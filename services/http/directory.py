"""The buyers' directory (structures, their services and known EJs) and each structure's
legal payment terms.

(No `from __future__ import annotations`: FastAPI reads the routes' annotations.)
"""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field

from facturier.services.application.actions import NoBody
from facturier.services.application.directory import read_document, structure_view
from facturier.services.application.payment_terms import MAX_PAYMENT_DAYS, MIN_PAYMENT_DAYS
from facturier.services.application.principals import ApiRole
from facturier.services.http.dependencies import Caller, Directory, PaymentTermsDep
from facturier.services.http.errors import error

router = APIRouter()

SiretPath = Annotated[str, Path(pattern=r"^[0-9]{14}$", examples=["11000201100044"])]


class PaymentTermsIn(NoBody):
    payment_days: int = Field(
        ge=MIN_PAYMENT_DAYS,
        le=MAX_PAYMENT_DAYS,
        description="legal payment period: 30 (State, local authorities), 50",
    )


@router.post("/directory", tags=["directory"])
def load_directory(
    document: dict[str, Any], caller: Caller, directory: Directory
) -> dict[str, Any]:
    """Admin: register or update public buyer structures, their services and known EJs
    (the JSON format of `facturier directory load`). Only differences are recorded."""
    if caller.role is not ApiRole.ADMIN:
        raise error(403, "FORBIDDEN", "only an admin token changes the directory")
    report = directory.load(read_document(document, "request"), actor=caller.actor)
    return asdict(report)


@router.get("/directory/structures/{siret}", tags=["directory"])
def structure(siret: SiretPath, caller: Caller, directory: Directory) -> dict[str, Any]:
    """A buyer structure as the directory knows it (any authenticated caller: suppliers
    need it to address their invoices)."""
    found = directory.find(siret)
    if found is None:
        raise error(404, "DEST_INC", f"no structure {siret} in the directory")
    return structure_view(found)


@router.put("/structures/{siret}/payment-terms", tags=["payment"])
def set_payment_terms(
    siret: SiretPath, body: PaymentTermsIn, caller: Caller, terms: PaymentTermsDep
) -> dict[str, Any]:
    """Admin: the structure's legal payment period (30 days by default, 50 for public
    hospitals). Applies to invoices it receives from now on."""
    terms.set(caller, siret, body.payment_days)
    return {"siret": siret, "payment_days": body.payment_days}


@router.get("/structures/{siret}/payment-terms", tags=["payment"])
def get_payment_terms(siret: SiretPath, caller: Caller, terms: PaymentTermsDep) -> dict[str, Any]:
    return {"siret": siret, "payment_days": terms.days(caller, siret)}
