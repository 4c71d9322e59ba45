"""What the JSON API and the portal answer alike about HTTP itself: a download's
Content-Disposition, the client's address, a stored document as a download."""

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from facturier.adapters.documents import DocumentStorage
from facturier.domain.invoice import Invoice
from facturier.services.application.flow_reports import invoice_document


def attachment(filename: str) -> str:
    """A Content-Disposition header for a download named `filename` (RFC 6266): the name
    itself when it is plain ASCII; else an ASCII fallback for old clients and the exact name,
    UTF-8, in `filename*` (RFC 5987). Never a header that latin-1 cannot encode."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    header = f'attachment; filename="{fallback or "download"}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def client_address(request: Request) -> str:
    """The client's IP address as the server sees it: behind a reverse proxy, the one its
    X-Forwarded-For names when the proxy is trusted (uvicorn's FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


def document_download(invoice: Invoice, sha256: str, store: DocumentStorage) -> Response:
    """One of the invoice's documents as a download (NoSuchDocument, DocumentMissing)."""
    found, content = invoice_document(invoice, sha256, store)
    return Response(
        content,
        media_type=found.media_type,
        headers={"Content-Disposition": attachment(found.filename)},
    )
