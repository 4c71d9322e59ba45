"""Kept for `services/http/live.py`'s import only, until it reads `sessions.py`; the
portal's routes are in `routes.py`."""

from facturier.services.portal.sessions import SESSION_COOKIE, Sessions

__all__ = ["SESSION_COOKIE", "Sessions"]
