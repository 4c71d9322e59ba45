"""E-mail notification subscriptions as the JSON API, the portal and the command line read
and change them (the notifications projection sends the e-mails:
projections/notifications/projection.py). Who may: the supplier itself, and admins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from facturier.adapters.subscriptions import SubscriptionStore
from facturier.domain.languages import EMAIL_DEFAULT_LANGUAGE
from facturier.domain.subscriptions import DEFAULT_STATUSES, WORDS, Subscription
from facturier.services.application.principals import ApiRole, Principal


class SubscriptionForbidden(PermissionError):
    def __init__(self, supplier_id: str) -> None:
        super().__init__(f"only supplier {supplier_id} and admins manage its e-mails")


def subscription_view(supplier_id: str, found: Subscription | None) -> dict[str, Any]:
    """A supplier's subscription, or the defaults with `"subscribed": false`."""
    return {
        "supplier_id": supplier_id,
        "subscribed": found is not None,
        "email": found.email if found else None,
        "statuses": list(found.statuses if found else DEFAULT_STATUSES),
        "language": found.language if found else EMAIL_DEFAULT_LANGUAGE.value,
        "available_statuses": list(WORDS),
    }


class Subscriptions:
    def __init__(self, store: SubscriptionStore) -> None:
        self.store = store

    @staticmethod
    def allowed(caller: Principal, supplier_id: str) -> None:
        """SubscriptionForbidden unless `caller` manages the supplier's e-mails."""
        if caller.role is ApiRole.ADMIN:
            return
        if caller.role is not ApiRole.SUPPLIER or caller.scope != supplier_id:
            raise SubscriptionForbidden(supplier_id)

    def get(self, caller: Principal, supplier_id: str) -> Subscription | None:
        self.allowed(caller, supplier_id)
        return self.store.get(supplier_id)

    def subscribe(
        self,
        caller: Principal,
        supplier_id: str,
        email: str,
        statuses: Iterable[str] | None = None,
        language: str = EMAIL_DEFAULT_LANGUAGE,
    ) -> Subscription:
        """Subscribe or change (InvalidSubscription naming the field): applies to the status
        changes projected from now on."""
        self.allowed(caller, supplier_id)
        subscription = Subscription.checked(supplier_id, email, statuses, language)
        self.store.save(subscription, caller.actor)
        return subscription

    def unsubscribe(self, caller: Principal, supplier_id: str) -> bool:
        """False when there was no subscription (the e-mails already due still go)."""
        self.allowed(caller, supplier_id)
        return self.store.delete(supplier_id)
