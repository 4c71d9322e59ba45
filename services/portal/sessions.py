"""Cookie sessions of the portal.

The browser holds a random session id in an HttpOnly, SameSite=Strict cookie scoped to
/portal (Secure over https); the server keeps its SHA-256 only, with the SHA-256 of the API
token it stands for (a revoked or expired token ends its sessions), a CSRF token that every
state-changing form sends back in a hidden field, and an expiry 8 hours after login. The
login form itself is protected by a double-submit cookie (`login.py`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request, Response
from psycopg_pool import ConnectionPool

from facturier.adapters.account_sessions import AccountSession
from facturier.domain.accounts import Account
from facturier.domain.organisations import Organisation
from facturier.services.application.authorisation import Authorisation
from facturier.services.application.consents import Consents
from facturier.services.application.organisations import MEMBER, NoSuchOrganisation, Organisations
from facturier.services.application.principals import ApiRole, Principal, principal_of
from facturier.services.application.sign_in import SignIn

SESSION_COOKIE = "facturier_portal"
LOGIN_COOKIE = "facturier_portal_login"
ACCOUNT_COOKIE = "facturier_account"  # a session signed in with an account (account_pages.py)
SESSION_HOURS = 8
LOGIN_FORM_SECONDS = 3600
SUBMITTERS = frozenset({ApiRole.SUPPLIER, ApiRole.OPERATOR, ApiRole.ADMIN})


@dataclass(frozen=True)
class Session:
    """Who is signed in: a token's session, or an account's (`account`) working for one of
    its organisations, with the rights its spaces there give (`Authorisation.member`)."""

    id_sha256: str
    principal: Principal
    csrf: str
    account: AccountSession | None = None
    organisation: UUID | None = None  # the organisation an account's session works for

    @property
    def submits(self) -> bool:
        return self.principal.role in SUBMITTERS


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def same(given: str, expected: str) -> bool:
    """Secrets compared in constant time."""
    return secrets.compare_digest(given.encode(), expected.encode())


class Sessions:
    def __init__(
        self,
        pool: Callable[[], ConnectionPool],
        sign_in: Callable[[], SignIn] | None = None,
        organisations: Callable[[], Organisations] | None = None,
        consents: Callable[[], Consents] | None = None,
        authorisation: Authorisation | None = None,
    ) -> None:
        self.pool = pool
        self.sign_in = sign_in
        self.organisations = organisations
        self.consents = consents
        self.authorisation = authorisation

    def open(self, token: str, principal: Principal) -> tuple[str, Session]:
        """A new session for a token found valid: (the cookie's value, the session)."""
        with self.pool().connection() as conn:
            session_id = secrets.token_urlsafe(32)
            csrf = secrets.token_urlsafe(32)
            conn.execute("DELETE FROM portal_session WHERE expires_at <= now()")
            conn.execute(
                "INSERT INTO portal_session (session_sha256, token_sha256, csrf_token, expires_at)"
                " VALUES (%s, %s, %s, now() + make_interval(hours => %s))",
                (_sha256(session_id), _sha256(token), csrf, SESSION_HOURS),
            )
        return session_id, Session(_sha256(session_id), principal, csrf)

    def find(self, session_id: str) -> Session | None:
        """The session, if it exists, has not expired and its token is neither revoked nor
        expired."""
        digest = _sha256(session_id)
        with self.pool().connection() as conn:
            row = conn.execute(
                "SELECT t.role, t.scope, t.label, s.csrf_token, t.client_id FROM portal_session s"
                " JOIN api_token t ON t.token_sha256 = s.token_sha256"
                " WHERE s.session_sha256 = %s AND s.expires_at > now()"
                " AND t.revoked_at IS NULL AND t.expires_at > now()",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        principal = principal_of(row[0], row[1], row[2])
        if principal is None:
            return None
        if self.authorisation is not None:
            principal = self.authorisation.complete(principal, row[4])
        return None if principal is None else Session(digest, principal, str(row[3]))

    def close(self, session: Session) -> None:
        if session.account is not None and self.sign_in is not None:
            self.sign_in().sign_out(session.account)
            return
        with self.pool().connection() as conn:
            conn.execute(
                "DELETE FROM portal_session WHERE session_sha256 = %s", (session.id_sha256,)
            )

    def current(self, request: Request) -> Session | None:
        """The session the request's cookies name, if it is still valid: a token's, else
        an account's working for an organisation."""
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if session_id and len(session_id) <= 128:
            found = self.find(session_id)
            if found is not None:
                return found
        return self.of_account(request.cookies.get(ACCOUNT_COOKIE, ""))

    def of_account(self, secret: str) -> Session | None:
        if (
            self.sign_in is None
            or self.organisations is None
            or self.consents is None
            or self.authorisation is None
        ):
            return None
        found = self.sign_in().current(secret)
        if found is None or not found[0].signed_in or self.consents().needs_terms(found[1]):
            return None
        session, account = found
        organisation = working_for(self.organisations(), session, account)
        if organisation is None:
            return None
        # The rights as of the organisation's version now, at the latest: after a change,
        # the projection is waited for rather than read stale.
        principal = self.authorisation.member(
            account.id, organisation.id, account.name, at_least=organisation.version
        )
        if principal is None:
            return None
        csrf, key = session.csrf, organisation.id
        return Session(session.id_sha256, principal, csrf, account=session, organisation=key)


def working_for(
    organisations: Organisations, session: AccountSession, account: Account
) -> Organisation | None:
    """The organisation the session chose, or the account's only one."""
    chosen = session.organisation
    if chosen is None:
        members = [key for key, state in account.organisations.items() if state == MEMBER]
        chosen = UUID(members[0]) if len(members) == 1 else None
    if chosen is None or account.organisations.get(str(chosen)) != MEMBER:
        return None
    try:
        return organisations.get(chosen)
    except NoSuchOrganisation:
        return None


# ---------------------------------------------------------------- forms before signing in

FORM_COOKIE = "facturier_portal_form"


def form_nonce(request: Request) -> str:
    """The nonce of the public forms (sign-up, links, codes): a double-submit cookie, the
    same value in a hidden field. Reused while the cookie lives, so that two tabs agree."""
    nonce = request.cookies.get(FORM_COOKIE, "")
    return nonce if 30 <= len(nonce) <= 64 else secrets.token_urlsafe(32)


def set_form_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        FORM_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        path="/portal",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def form_nonce_ok(request: Request, form: dict[str, str]) -> bool:
    nonce = request.cookies.get(FORM_COOKIE, "")
    return bool(nonce) and same(form.get("csrf", ""), nonce)
