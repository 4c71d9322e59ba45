"""Technical accounts: machine credentials of an organisation, as on Chorus Pro. Only its
principal manager creates, renews and revokes them; the secret is shown once and kept as its
SHA-256 (256 random bits: a slow hash would add nothing); it works 424 days, and its principal
manager is mailed 30 days before the end (`remind`).

An application trades the client id and secret for a short-lived bearer token (OAuth2 client
credentials, `services/http/oauth.py`) whose rights are the organisation's spaces the account
was given: the invoices it issues (as its supplier) or receives (as its buyer), read from the
authorisation projection.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from facturier.adapters.mail import Mail
from facturier.domain.accounts import Account
from facturier.domain.identifiers import IdentifierKind
from facturier.domain.languages import Language
from facturier.domain.organisations import Space, TechnicalAccount
from facturier.projections.authorisation.queries import ClientAccess
from facturier.services.application.authorisation import Authorisation
from facturier.services.application.organisations import NoSuchOrganisation, Organisations
from facturier.services.application.principals import ApiRole, Principal

REMIND_DAYS = 30


@dataclass(frozen=True)
class Credentials:
    """What is shown once: the client id and its secret."""

    client_id: str
    secret: str
    expires_at: datetime


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    return "fcs_" + secrets.token_urlsafe(32)


def principal_of_client(client: ClientAccess, space: str | None) -> Principal | None:
    """The principal of a token asked for `space` (None: the first the account holds)."""
    spaces = sorted(client.spaces) if space is None else [space]
    if not spaces or spaces[0] not in client.spaces:
        return None
    label = f"technical account {client.client_id}"
    if spaces[0] == Space.ISSUED.value and client.identifier:
        return Principal(ApiRole.SUPPLIER, client.identifier, label)
    if spaces[0] == Space.RECEIVED.value and client.kind == IdentifierKind.SIRET:
        return Principal(ApiRole.BUYER, client.identifier, label)
    return None


@dataclass
class TechnicalAccounts:
    organisations: Organisations
    authorisation: Authorisation

    def create(
        self, principal: Account, organisation_id: UUID, label: str, spaces: list[str]
    ) -> Credentials:
        organisation = self.organisations.get(organisation_id)
        client_id, secret = "fcc_" + secrets.token_urlsafe(12), _new_secret()
        now = self.organisations.clock()
        organisation.create_technical_account(
            principal.id, client_id, label, _sha256(secret), spaces, now
        )
        self.organisations.save(organisation)
        return Credentials(client_id, secret, organisation.technical_accounts[client_id].expires_at)

    def renew(self, principal: Account, organisation_id: UUID, client_id: str) -> Credentials:
        """A new secret, valid 424 days from now; the old one stops working at once."""
        organisation = self.organisations.get(organisation_id)
        secret = _new_secret()
        now = self.organisations.clock()
        organisation.renew_technical_account(principal.id, client_id, _sha256(secret), now)
        self.organisations.save(organisation)
        return Credentials(client_id, secret, organisation.technical_accounts[client_id].expires_at)

    def revoke(self, principal: Account, organisation_id: UUID, client_id: str) -> None:
        organisation = self.organisations.get(organisation_id)
        organisation.revoke_technical_account(principal.id, client_id, self.organisations.clock())
        self.organisations.save(organisation)

    def of(self, organisation_id: UUID) -> list[TechnicalAccount]:
        found = self.organisations.get(organisation_id).technical_accounts.values()
        return sorted(found, key=lambda t: (t.revoked_at is not None, t.label, t.client_id))

    def verify(self, client_id: str, secret: str) -> ClientAccess | None:
        """The technical account's rights if the secret is its current one and it is valid;
        None otherwise (the same for an unknown client: nothing tells them apart)."""
        client = self.authorisation.client(client_id[:64])
        if client is None:
            return None
        try:
            organisation = self.organisations.get(UUID(client.organisation_id))
        except NoSuchOrganisation:
            return None
        held = organisation.technical_accounts.get(client.client_id)
        if held is None or not held.valid(self.organisations.clock()):
            return None
        if not secrets.compare_digest(_sha256(secret).encode(), held.secret_sha256.encode()):
            return None
        return client

    def remind(self, days: int = REMIND_DAYS) -> int:
        """Mail the principal manager of each organisation whose technical accounts end
        within `days`, once per secret; the number of reminders sent."""
        now = self.organisations.clock()
        sent = 0
        for organisation_id in self.authorisation.expiring(now + timedelta(days=days)):
            organisation = self.organisations.get(UUID(organisation_id))
            due = organisation.technical_accounts_to_remind(now, days)
            if not due or organisation.principal is None:
                continue
            for account in due:
                organisation.technical_account_reminded(account.client_id)
            self.organisations.save(organisation)
            principal = self.organisations.app.find_id(UUID(organisation.principal))
            if principal is not None:
                self.organisations.mailer.send(_reminder(principal, organisation.name, due))
            sent += len(due)
        return sent


def _reminder(account: Account, name: str, due: list[TechnicalAccount]) -> Mail:
    french = account.language == Language.FR
    lines = [
        f"- {t.label} ({t.client_id}) : {t.expires_at:%Y-%m-%d}"
        if french
        else f"- {t.label} ({t.client_id}): {t.expires_at:%Y-%m-%d}"
        for t in due
    ]
    if french:
        subject = f"facturier — comptes techniques de {name} à renouveler"
        text = "Ces comptes techniques cessent de fonctionner à la date dite ; renouvelez leur"
        text += " secret depuis la page de la structure :\n"
    else:
        subject = f"facturier — technical accounts of {name} to renew"
        text = "These technical accounts stop working on the day said; renew their secret"
        text += " from the organisation's page:\n"
    return Mail(account.login_email, subject, text + "\n".join(lines) + "\n", account.language)
