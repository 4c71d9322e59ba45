"""The e-mails an account receives, in French and English: its activation link, the notice
that an address already has an account, a password-reset link, a sign-in code, and the
notices of a lockout, of a changed password and of a changed second factor. Links and codes
appear in the text only."""

from __future__ import annotations

from facturier.adapters.mail import Mail
from facturier.domain.accounts import Account
from facturier.domain.languages import Language

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "activation": {
        Language.FR: (
            "Activez votre compte facturier",
            "Bonjour {name},\n\nPour activer votre compte et choisir votre mot de passe, ouvrez"
            " ce lien (valable 60 minutes, une seule fois) :\n\n{link}\n\nSi vous n'avez pas"
            " demandé ce compte, ignorez ce message.",
        ),
        Language.EN: (
            "Activate your facturier account",
            "Hello {name},\n\nTo activate your account and choose your password, open this link"
            " (valid 60 minutes, once):\n\n{link}\n\nIf you did not ask for this account,"
            " ignore this message.",
        ),
    },
    "already_registered": {
        Language.FR: (
            "Votre compte facturier existe déjà",
            "Bonjour {name},\n\nQuelqu'un a demandé à créer un compte avec cette adresse, qui en"
            " a déjà un. Pour vous connecter : {portal}/portal/login\nMot de passe oublié :"
            " {portal}/portal/password/forgot\n\nSi ce n'était pas vous, rien n'a changé.",
        ),
        Language.EN: (
            "Your facturier account already exists",
            "Hello {name},\n\nSomeone asked to create an account with this address, which"
            " already has one. To sign in: {portal}/portal/login\nForgotten password:"
            " {portal}/portal/password/forgot\n\nIf it was not you, nothing has changed.",
        ),
    },
    "reset": {
        Language.FR: (
            "Réinitialisez votre mot de passe facturier",
            "Bonjour {name},\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable"
            " 60 minutes, une seule fois) :\n\n{link}\n\nSi vous n'avez rien demandé, ignorez"
            " ce message : votre mot de passe reste le même.",
        ),
        Language.EN: (
            "Reset your facturier password",
            "Hello {name},\n\nTo choose a new password, open this link (valid 60 minutes,"
            " once):\n\n{link}\n\nIf you asked for nothing, ignore this message: your password"
            " stays the same.",
        ),
    },
    "code": {
        Language.FR: (
            "Votre code de connexion facturier",
            "Bonjour {name},\n\nVotre code de connexion : {code}\n\nIl est valable 10 minutes."
            " Ne le communiquez à personne.",
        ),
        Language.EN: (
            "Your facturier sign-in code",
            "Hello {name},\n\nYour sign-in code: {code}\n\nIt is valid 10 minutes. Never share it.",
        ),
    },
    "locked": {
        Language.FR: (
            "Connexions bloquées sur votre compte facturier",
            "Bonjour {name},\n\nAprès plusieurs échecs de connexion, les connexions à votre"
            " compte sont bloquées pendant {minutes} minutes. Si ce n'était pas vous, changez"
            " votre mot de passe : {portal}/portal/password/forgot",
        ),
        Language.EN: (
            "Sign-ins blocked on your facturier account",
            "Hello {name},\n\nAfter several failed sign-ins, signing in to your account is"
            " blocked for {minutes} minutes. If it was not you, change your password:"
            " {portal}/portal/password/forgot",
        ),
    },
    "factor_changed": {
        Language.FR: (
            "Le second facteur de votre compte facturier a changé",
            "Bonjour {name},\n\nUn second facteur vient d'être enregistré pour votre compte."
            " Si ce n'était pas vous, changez votre mot de passe :"
            " {portal}/portal/password/forgot",
        ),
        Language.EN: (
            "The second factor of your facturier account has changed",
            "Hello {name},\n\nA second factor has just been set for your account. If it was"
            " not you, change your password: {portal}/portal/password/forgot",
        ),
    },
    "password_changed": {
        Language.FR: (
            "Votre mot de passe facturier a changé",
            "Bonjour {name},\n\nLe mot de passe de votre compte vient d'être changé ; vos autres"
            " sessions sont fermées. Si ce n'était pas vous : {portal}/portal/password/forgot",
        ),
        Language.EN: (
            "Your facturier password has changed",
            "Hello {name},\n\nYour account's password has just been changed; your other"
            " sessions are closed. If it was not you: {portal}/portal/password/forgot",
        ),
    },
}


def mail_to(account: Account, kind: str, **values: str) -> Mail:
    """The `kind` mail to the account's login address, in its language."""
    lang = Language(account.language) if account.language in tuple(Language) else Language.FR
    subject, text = TEXTS[kind][lang]
    body = text.format(name=account.name, **values) + "\n\n-- \nfacturier\n"
    return Mail(account.login_email, subject, body, lang.value)
