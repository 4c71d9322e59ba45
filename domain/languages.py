"""The languages the platform writes in, and which one each audience gets unless it chose.

French is the language of the reform, of public buyers and of the legal notices, so what is
sent to a supplier (e-mails) is French by default; the portal's pages greet an unknown
visitor in English until its browser or the language switch says otherwise.
"""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    FR = "fr"
    EN = "en"


EMAIL_DEFAULT_LANGUAGE = Language.FR
PORTAL_DEFAULT_LANGUAGE = Language.EN
