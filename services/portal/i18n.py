"""The portal's strings, in English and French: one catalogue, `MESSAGES`, key -> (en, fr).

(Over 500 lines: it is data, one table that the catalogue test reads whole; split, it would
only scatter the keys.)

Templates call `t("key", name=value)`; the text is a `str.format` pattern. The language is
the `facturier_lang` cookie set by the switch on every page, else the best of
`Accept-Language`, else English. Codes and identifiers (Chorus statuses, reform and reason
codes, SIRETs) are shown as they are in both languages: they are what the buyer and the
supplier quote to each other; but only as a detail next to the words that say what they
mean (a status, a step of the timeline, a reason). Amounts, dates and times: `formats.py`.
"""
# Long: one catalogue, every string of the portal in both languages side by side, so that a
# missing translation shows at a glance.

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape

from facturier.domain.languages import PORTAL_DEFAULT_LANGUAGE

COOKIE = "facturier_lang"
DEFAULT: str = PORTAL_DEFAULT_LANGUAGE
LANGUAGES: tuple[tuple[str, str], ...] = (("en", "English"), ("fr", "Français"))
CODES = tuple(code for code, _ in LANGUAGES)

MESSAGES: dict[str, tuple[str, str]] = {
    # ------------------------------------------------------------ frame
    # The brand says whose portal it is: suppliers', public buyers', or neutral.
    "portal.name": ("e-invoicing portal", "portail de facturation électronique"),
    "portal.name.supplier": ("supplier portal", "portail fournisseurs"),
    "portal.name.operator": ("supplier portal", "portail fournisseurs"),
    "portal.name.buyer": ("public buyers' portal", "portail des acheteurs publics"),
    "portal.name.auditor": ("e-invoicing portal", "portail de facturation électronique"),
    "portal.name.admin": ("e-invoicing portal", "portail de facturation électronique"),
    "role.supplier": ("supplier", "fournisseur"),
    "role.buyer": ("public buyer", "acheteur public"),
    "role.operator": ("operator", "opérateur"),
    "role.auditor": ("auditor", "auditeur"),
    "role.admin": ("administrator", "administrateur"),
    "base.skip": ("Skip to the content", "Aller au contenu"),
    "base.nav": ("Sections", "Rubriques"),
    "base.invoices": ("Invoices", "Factures"),
    "base.queue": ("Invoices to process", "Factures à traiter"),
    "base.new": ("New invoice", "Nouvelle facture"),
    "base.language": ("Language", "Langue"),
    "base.account": ("Account", "Compte"),
    "base.signed_in": ("Signed in as", "Connecté en tant que"),
    "base.for_structure": ("for {name}", "pour {name}"),
    "base.sign_out": ("Sign out", "Se déconnecter"),
    "common.error_prefix": ("Error:", "Erreur :"),
    "common.colon": (":", "\u00a0:"),  # French sets a (no-break) space before a colon
    "common.problem": ("There is a problem", "Il y a un problème"),
    "common.required": ("required", "obligatoire"),
    # ------------------------------------------------------------ sign in, messages
    "login.title": ("Sign in", "Se connecter"),
    "login.token": ("API token", "Jeton d'API"),
    "login.token_hint": (
        "Paste the token your platform administrator issued you (facturier admin "
        "create-token). It is not kept in the browser: a session cookie stands for it for "
        "8 hours.",
        "Collez le jeton que l'administrateur de la plateforme vous a remis (facturier admin "
        "create-token). Le navigateur ne le garde pas : un cookie de session le remplace "
        "pendant 8 heures.",
    ),
    "login.submit": ("Sign in", "Se connecter"),
    "login.expired": (
        "The sign-in form had expired: paste your token again.",
        "Le formulaire de connexion avait expiré : collez de nouveau votre jeton.",
    ),
    "login.missing": ("Paste your API token.", "Collez votre jeton d'API."),
    "login.unknown": ("Unknown or revoked token.", "Jeton inconnu ou révoqué."),
    "login.revoked": (
        "This token has been revoked: ask your platform administrator for a new one.",
        "Ce jeton a été révoqué : demandez-en un nouveau à l'administrateur de la plateforme.",
    ),
    "login.token_expired": (
        "This token has expired: ask your platform administrator for a new one.",
        "Ce jeton a expiré : demandez-en un nouveau à l'administrateur de la plateforme.",
    ),
    "login.throttled": (
        "Too many failed sign-ins from your address: try again in {seconds} seconds.",
        "Trop de connexions échouées depuis votre adresse : réessayez dans {seconds} secondes.",
    ),
    "login.email": ("E-mail address", "Adresse électronique"),
    "login.password": ("Password", "Mot de passe"),
    "login.signup": ("Create an account", "Créer un compte"),
    "login.forgot": ("Forgotten password", "Mot de passe oublié"),
    "login.resend": (
        "Activation link lost or expired",
        "Lien d'activation perdu ou expiré",
    ),
    "login.with_token": (
        "Operations: sign in with an API token",
        "Exploitation : se connecter avec un jeton d'API",
    ),
    "login.submit_token": ("Sign in with the token", "Se connecter avec le jeton"),
    "login.refused": (
        "Wrong e-mail address or password, or an account not activated yet.",
        "Adresse électronique ou mot de passe erroné, ou compte pas encore activé.",
    ),
    "login.expired_account": (
        "The sign-in form had expired: sign in again.",
        "Le formulaire de connexion avait expiré : connectez-vous de nouveau.",
    ),
    "common.optional": ("optional", "facultatif"),
    "public.expired": (
        "The form had expired: send it again.",
        "Le formulaire avait expiré : envoyez-le de nouveau.",
    ),
    # ------------------------------------------------------------ accounts
    "signup.title": ("Create an account", "Créer un compte"),
    "signup.intro": (
        "Your login e-mail identifies your account; we send it a link to activate the account"
        " and choose your password.",
        "Votre adresse de connexion identifie votre compte ; nous y envoyons un lien pour"
        " l'activer et choisir votre mot de passe.",
    ),
    "signup.name": ("Your name", "Vos nom et prénom"),
    "signup.login_email": ("Login e-mail", "Adresse de connexion"),
    "signup.login_email_hint": (
        "It cannot change; password resets are sent to it.",
        "Elle ne peut pas changer ; les réinitialisations de mot de passe y sont envoyées.",
    ),
    "signup.contact_email": ("Contact e-mail", "Adresse de contact"),
    "signup.contact_email_hint": (
        "For notifications, if not the login e-mail; you can change it later.",
        "Pour les notifications, si ce n'est pas l'adresse de connexion ; modifiable ensuite.",
    ),
    "signup.submit": ("Create the account", "Créer le compte"),
    "signup.have_account": ("I already have an account", "J'ai déjà un compte"),
    "signup.invalid.name": ("Type your name.", "Saisissez vos nom et prénom."),
    "signup.invalid.login_email": (
        "Type an e-mail address, like name@example.fr.",
        "Saisissez une adresse électronique, comme nom@exemple.fr.",
    ),
    "signup.invalid.contact_email": (
        "Type an e-mail address, like name@example.fr, or leave it empty.",
        "Saisissez une adresse électronique, comme nom@exemple.fr, ou laissez vide.",
    ),
    "signup.invalid.language": ("Choose a language.", "Choisissez une langue."),
    "signup.sent": ("Check your mailbox", "Consultez votre messagerie"),
    "signup.sent_text": (
        "We sent a message to {email}. Open its link within 60 minutes to activate your account."
        " If an account already uses this address, the message says so.",
        "Nous avons envoyé un message à {email}. Ouvrez son lien dans les 60 minutes pour"
        " activer votre compte. Si un compte utilise déjà cette adresse, le message le dit.",
    ),
    "password.title.activate": ("Choose your password", "Choisissez votre mot de passe"),
    "password.title.reset": ("Choose a new password", "Choisissez un nouveau mot de passe"),
    "password.new": ("New password", "Nouveau mot de passe"),
    "password.confirm": ("The same password again", "Le même mot de passe, de nouveau"),
    "password.rule": (
        "12 to 128 characters, any you like; a sentence is easier to remember.",
        "12 à 128 caractères, ceux que vous voulez ; une phrase se retient mieux.",
    ),
    "password.mismatch": (
        "The two passwords differ.",
        "Les deux mots de passe diffèrent.",
    ),
    "password.submit": ("Save the password", "Enregistrer le mot de passe"),
    "password.done.activate": ("Your account is active", "Votre compte est actif"),
    "password.done_text.activate": (
        "Sign in with your e-mail address and password; you will then add a second factor.",
        "Connectez-vous avec votre adresse et votre mot de passe ; vous ajouterez ensuite un"
        " second facteur.",
    ),
    "password.done.reset": ("Your password has changed", "Votre mot de passe a changé"),
    "password.done_text.reset": (
        "Every session of your account has been closed: sign in with the new password.",
        "Toutes les sessions de votre compte ont été fermées : connectez-vous avec le nouveau"
        " mot de passe.",
    ),
    "link.title.activate": ("A new activation link", "Un nouveau lien d'activation"),
    "link.title.forgot": ("Forgotten password", "Mot de passe oublié"),
    "link.intro.activate": (
        "Type your login e-mail: if its account is not active yet, we send it a new link.",
        "Saisissez votre adresse de connexion : si son compte n'est pas encore actif, nous y"
        " envoyons un nouveau lien.",
    ),
    "link.intro.forgot": (
        "Type your login e-mail: if it has an account, we send it a link to choose a new password.",
        "Saisissez votre adresse de connexion : si elle a un compte, nous y envoyons un lien"
        " pour choisir un nouveau mot de passe.",
    ),
    "link.submit": ("Send the link", "Envoyer le lien"),
    "link.sent.activate": ("Check your mailbox", "Consultez votre messagerie"),
    "link.sent.forgot": ("Check your mailbox", "Consultez votre messagerie"),
    "link.sent_text": (
        "If {email} has an account waiting for it, a message with a link valid 60 minutes is on"
        " its way.",
        "Si {email} correspond à un compte concerné, un message avec un lien valable 60 minutes"
        " est en route.",
    ),
    "link.invalid": (
        "This link is no longer valid (used, replaced or older than 60 minutes): ask for a"
        " new one.",
        "Ce lien n'est plus valable (utilisé, remplacé ou vieux de plus de 60 minutes) :"
        " demandez-en un nouveau.",
    ),
    "code.title": ("Second factor", "Second facteur"),
    "code.intro.totp": (
        "Type the 6-digit code your authenticator app shows, or one of your recovery codes.",
        "Saisissez le code à 6 chiffres de votre application d'authentification, ou l'un de"
        " vos codes de secours.",
    ),
    "code.intro.email": (
        "Type the 6-digit code we just sent to your login e-mail (valid 10 minutes).",
        "Saisissez le code à 6 chiffres que nous venons d'envoyer à votre adresse de connexion"
        " (valable 10 minutes).",
    ),
    "code.label": ("Code", "Code"),
    "code.submit": ("Continue", "Continuer"),
    "code.resend": ("Send me a new code", "M'envoyer un nouveau code"),
    "code.sent": ("A new code is on its way.", "Un nouveau code est en route."),
    "code.refused": (
        "This code is wrong, already used or expired.",
        "Ce code est erroné, déjà utilisé ou expiré.",
    ),
    "enrol.title": ("Add a second factor", "Ajouter un second facteur"),
    "enrol.intro": (
        "Each sign-in asks, after your password, for a code that only you can have: from an"
        " authenticator app on your phone, or sent by e-mail.",
        "Chaque connexion demande, après le mot de passe, un code que vous seul pouvez avoir :"
        " celui d'une application d'authentification sur votre téléphone, ou reçu par"
        " courriel.",
    ),
    "enrol.app": ("Use an authenticator app", "Utiliser une application d'authentification"),
    "enrol.email": ("Receive codes at {email}", "Recevoir les codes à {email}"),
    "enrol.scan": (
        "Scan this QR code with your authenticator app (or type the key below).",
        "Scannez ce QR code avec votre application d'authentification (ou saisissez la clé"
        " ci-dessous).",
    ),
    "enrol.type_code": (
        "Type the 6-digit code it then shows.",
        "Saisissez le code à 6 chiffres qu'elle affiche alors.",
    ),
    "enrol.seed": ("Key:", "Clé :"),
    "enrol.confirm": ("Confirm", "Confirmer"),
    "enrol.email_sent": (
        "We sent a 6-digit code to {email}: type it to confirm.",
        "Nous avons envoyé un code à 6 chiffres à {email} : saisissez-le pour confirmer.",
    ),
    "recovery.title": ("Your recovery codes", "Vos codes de secours"),
    "recovery.intro": (
        "Keep these ten codes somewhere safe: each signs you in once if you lose your phone."
        " They are shown only now.",
        "Conservez ces dix codes en lieu sûr : chacun permet une connexion si vous perdez"
        " votre téléphone. Ils ne sont montrés que maintenant.",
    ),
    "recovery.continue": ("Continue", "Continuer"),
    "account.title": ("My account", "Mon compte"),
    "account.second_factor": ("Second factor", "Second facteur"),
    "account.factor.totp": ("authenticator app", "application d'authentification"),
    "account.factor.email": ("code by e-mail", "code par courriel"),
    "account.factor.none": ("none", "aucun"),
    "account.change_factor": ("change", "changer"),
    "account.sessions": ("Open sessions", "Sessions ouvertes"),
    "account.session_started": ("Signed in", "Connexion"),
    "account.session_seen": ("Last seen", "Dernière activité"),
    "account.session_from": ("From", "Depuis"),
    "account.session_end": ("End", "Fermer"),
    "account.this_session": ("this one", "celle-ci"),
    "account.password": ("Password", "Mot de passe"),
    "account.current_password": ("Current password", "Mot de passe actuel"),
    "account.change_password": ("Change the password", "Changer le mot de passe"),
    "account.wrong_password": (
        "The current password is wrong.",
        "Le mot de passe actuel est erroné.",
    ),
    "account.done.password": (
        "Password changed; your other sessions are closed.",
        "Mot de passe changé ; vos autres sessions sont fermées.",
    ),
    "account.done.session": ("Session closed.", "Session fermée."),
    "account.done.contact": ("Contact e-mail changed.", "Adresse de contact modifiée."),
    "account.contact_hint": (
        "Where notifications go; your login e-mail stays the same.",
        "Là où vont les notifications ; votre adresse de connexion ne change pas.",
    ),
    "account.change_contact": ("Change the contact e-mail", "Modifier l'adresse de contact"),
    "account.done.app": ("Authenticator app added.", "Application d'authentification ajoutée."),
    "account.done.email": ("Codes by e-mail chosen.", "Codes par courriel choisis."),
    "base.organisations": ("Organisations", "Structures"),
    "base.my_account": ("My account", "Mon compte"),
    "organisations.title": ("My organisations", "Mes structures"),
    "organisations.none": (
        "You belong to no organisation yet: create yours, or ask to join one.",
        "Vous n'appartenez encore à aucune structure : créez la vôtre, ou demandez à en"
        " rejoindre une.",
    ),
    "organisations.create": ("Create an organisation", "Créer une structure"),
    "organisations.create_submit": ("Create", "Créer"),
    "organisations.join": ("Join an organisation", "Rejoindre une structure"),
    "organisations.join_intro": (
        "Your request waits for its principal manager, who gets a mail.",
        "Votre demande attend son gestionnaire principal, qui reçoit un courriel.",
    ),
    "organisations.join_submit": ("Ask to join", "Demander le rattachement"),
    "organisations.done.created": (
        "Organisation created: you are its principal manager.",
        "Structure créée : vous en êtes le gestionnaire principal.",
    ),
    "organisations.done.requested": (
        "Request sent: its managers decide (this identifier may already be registered).",
        "Demande envoyée : ses gestionnaires décident (cet identifiant était peut-être déjà"
        " enregistré).",
    ),
    "organisations.done.left": ("You left the organisation.", "Vous avez quitté la structure."),
    "organisation.name": ("Name", "Raison sociale"),
    "organisation.identifier": ("Identifier", "Identifiant"),
    "organisation.identifier_hint": (
        "A SIRET (14 digits), or the identifier of the kind chosen; none for a private person"
        " or a company being registered.",
        "Un SIRET (14 chiffres), ou l'identifiant du type choisi ; aucun pour un particulier"
        " ou une entreprise en cours d'immatriculation.",
    ),
    "organisation.kind": ("Kind of identifier", "Type d'identifiant"),
    "organisation.kind.siret": ("SIRET", "SIRET"),
    "organisation.kind.eu-vat": (
        "EU VAT number (outside France)",
        "TVA intracommunautaire (hors France)",
    ),
    "organisation.kind.non-eu": ("Outside the EU", "Hors Union européenne"),
    "organisation.kind.ridet": ("RIDET (New Caledonia)", "RIDET (Nouvelle-Calédonie)"),
    "organisation.kind.tahiti": ("TAHITI (French Polynesia)", "TAHITI (Polynésie française)"),
    "organisation.kind.private": ("Private person", "Particulier"),
    "organisation.kind.registering": ("Being registered", "En cours d'immatriculation"),
    "organisation.public": (
        "A public organisation, receiving invoices",
        "Une structure publique, qui reçoit des factures",
    ),
    "organisation.note": ("A word for the managers", "Un mot pour les gestionnaires"),
    "organisation.state": ("Your place", "Votre situation"),
    "organisation.state.member": ("member", "membre"),
    "organisation.state.pending": ("request pending", "demande en attente"),
    "organisation.current": ("this session works for it", "cette session travaille pour elle"),
    "organisation.use": ("Work for it", "Travailler pour elle"),
    "organisation.invalid": (
        "This cannot be done: check the choice and try again.",
        "Impossible : vérifiez le choix et réessayez.",
    ),
    "organisation.invalid.identifier": (
        "This identifier is not valid for the kind chosen.",
        "Cet identifiant n'est pas valable pour le type choisi.",
    ),
    "organisation.invalid.kind": (
        "Choose a kind of identifier.",
        "Choisissez un type d'identifiant.",
    ),
    "organisation.invalid.name": ("Type the organisation's name.", "Saisissez la raison sociale."),
    "organisation.invalid.note": (
        "The note holds a character that cannot be kept.",
        "La note contient un caractère qui ne peut pas être conservé.",
    ),
    "organisation.invalid.account": (
        "You are already a member of it.",
        "Vous en êtes déjà membre.",
    ),
    "organisation.unknown": (
        "No organisation has this identifier: create it instead.",
        "Aucune structure n'a cet identifiant : créez-la plutôt.",
    ),
    "organisation.not_found": ("No such organisation", "Structure introuvable"),
    "organisation.not_found_text": (
        "You are not a member of this organisation.",
        "Vous n'êtes pas membre de cette structure.",
    ),
    "organisation.forbidden": (
        "Only the organisation's managers can do this.",
        "Seuls les gestionnaires de la structure peuvent faire cela.",
    ),
    "organisation.your_role": ("Your role", "Votre rôle"),
    "organisation.your_spaces": ("Your spaces", "Vos espaces"),
    "organisation.role": ("Role", "Rôle"),
    "organisation.role.principal": ("principal manager", "gestionnaire principal"),
    "organisation.role.user": ("user", "utilisateur"),
    "organisation.requests": ("Pending requests", "Demandes en attente"),
    "organisation.requests_pick": ("Tick the requests to decide", "Cochez les demandes à traiter"),
    "organisation.asks.join": ("asks to join", "demande le rattachement"),
    "organisation.asks.space": ("asks for the space", "demande l'espace"),
    "organisation.approve": ("Approve the ticked requests", "Accepter les demandes cochées"),
    "organisation.refuse": ("Refuse the ticked requests", "Refuser les demandes cochées"),
    "organisation.no_requests": ("No request is waiting.", "Aucune demande n'attend."),
    "organisation.members": ("Members", "Membres"),
    "organisation.member": ("Member", "Membre"),
    "organisation.spaces": ("Spaces", "Espaces"),
    "organisation.space": ("Space", "Espace"),
    "organisation.yes": ("yes", "oui"),
    "organisation.no": ("no", "non"),
    "organisation.grant": ("grant", "accorder"),
    "organisation.withdraw": ("withdraw", "retirer"),
    "organisation.copy": ("Copy one member's spaces to another", "Copier les espaces d'un membre"),
    "organisation.copy_from": ("From", "De"),
    "organisation.copy_to": ("To", "Vers"),
    "organisation.copy_submit": ("Copy", "Copier"),
    "organisation.transfer": (
        "Hand on the principal manager's role",
        "Transmettre le rôle de gestionnaire principal",
    ),
    "organisation.transfer_to": ("To", "À"),
    "organisation.transfer_submit": ("Hand on", "Transmettre"),
    "organisation.ask": ("Ask for a space", "Demander un espace"),
    "organisation.ask_submit": ("Ask", "Demander"),
    "organisation.leave": ("Leave this organisation", "Quitter cette structure"),
    "organisation.done.decided": (
        "Requests decided; each requester gets a mail.",
        "Demandes traitées ; chaque demandeur reçoit un courriel.",
    ),
    "organisation.done.spaces": ("Spaces changed.", "Espaces modifiés."),
    "organisation.done.copied": ("Spaces copied.", "Espaces copiés."),
    "organisation.done.transferred": ("Role handed on.", "Rôle transmis."),
    "organisation.done.asked": (
        "Request sent to the managers.",
        "Demande envoyée aux gestionnaires.",
    ),
    "organisation.done.granted": ("Space open.", "Espace ouvert."),
    "space.invoices-issued": ("invoices issued", "factures émises"),
    "space.invoices-received": ("invoices received", "factures reçues"),
    "space.manager": ("manager's activities", "activités du gestionnaire"),
    "text.title.terms": ("Terms of use", "Conditions générales d'utilisation"),
    "text.title.mandate": ("Billing mandate", "Mandat de facturation"),
    "text.version": ("Version {version}.", "Version {version}."),
    "text.accept.terms": ("I accept the terms of use", "J'accepte les conditions d'utilisation"),
    "text.accept.mandate": (
        "Sign the mandate for the organisation",
        "Signer le mandat pour la structure",
    ),
    "text.accepted.terms": (
        "You accepted this version of the terms.",
        "Vous avez accepté cette version des conditions.",
    ),
    "text.accepted.mandate": (
        "The organisation has signed this version of the mandate.",
        "La structure a signé cette version du mandat.",
    ),
    "text.managers_sign": (
        "Only the organisation's managers sign its mandate.",
        "Seuls les gestionnaires de la structure signent son mandat.",
    ),
    "organisation.mandate": ("Billing mandate", "Mandat de facturation"),
    "organisation.mandate.signed": ("signed", "signé"),
    "organisation.mandate.missing": (
        "not signed: its users cannot type invoices on the portal",
        "non signé : ses utilisateurs ne peuvent pas saisir de factures sur le portail",
    ),
    "organisation.mandate_read": ("read it", "le lire"),
    "organisation.operators": ("Operators", "Opérateurs"),
    "organisation.operators_link": (
        "operators' mandates: who submits for it, for whom it submits",
        "mandats d'opérateurs : qui dépose pour elle, pour qui elle dépose",
    ),
    "organisation.clients": ("Technical accounts", "Comptes techniques"),
    "organisation.clients_link": (
        "its applications' credentials (OAuth2)",
        "les identifiants de ses applications (OAuth2)",
    ),
    "clients.title": ("Technical accounts", "Comptes techniques"),
    "clients.intro": (
        "A technical account lets one of the organisation's applications call the API: it"
        " trades its client id and secret at /oauth/token for a bearer token of a few minutes,"
        " with the rights of the spaces it was given. Its secret works 424 days; the principal"
        " manager is mailed 30 days before the end, and renews it here.",
        "Un compte technique permet à une application de la structure d'appeler l'API : elle"
        " échange son identifiant et son secret sur /oauth/token contre un jeton de quelques"
        " minutes, avec les droits des espaces qui lui ont été donnés. Son secret vaut 424"
        " jours ; le gestionnaire principal est prévenu par courriel 30 jours avant, et le"
        " renouvelle ici.",
    ),
    "clients.none": ("No technical account yet.", "Aucun compte technique pour l'instant."),
    "clients.label": ("Name", "Nom"),
    "clients.label_hint": (
        'What uses it, e.g. "ERP invoicing".',
        "Ce qui l'utilise, par exemple « ERP facturation ».",
    ),
    "clients.client_id": ("Client id", "Identifiant client"),
    "clients.secret": ("Secret", "Secret"),
    "clients.spaces": ("Spaces", "Espaces"),
    "clients.expires": ("Works until", "Valable jusqu'au"),
    "clients.state": ("State", "État"),
    "clients.in_force": ("in force", "en vigueur"),
    "clients.revoked": ("revoked", "révoqué le"),
    "clients.renew": ("New secret", "Nouveau secret"),
    "clients.revoke": ("Revoke", "Révoquer"),
    "clients.create": ("Create a technical account", "Créer un compte technique"),
    "clients.create_submit": ("Create", "Créer"),
    "clients.shown_title": ("Copy the secret now", "Copiez le secret maintenant"),
    "clients.shown_text": (
        "It is shown this once and kept only as a hash: nobody can show it again. Lost, it"
        " is replaced by a new one.",
        "Il n'est montré que cette fois et n'est gardé que sous forme d'empreinte : personne"
        " ne pourra le remontrer. Perdu, il se remplace par un nouveau.",
    ),
    "clients.how": ("Tokens:", "Jetons :"),
    "clients.done.revoked": (
        "Technical account revoked: its tokens no longer work.",
        "Compte technique révoqué : ses jetons ne fonctionnent plus.",
    ),
    "clients.forbidden": (
        "Only the organisation's principal manager manages its technical accounts.",
        "Seul le gestionnaire principal gère les comptes techniques de la structure.",
    ),
    "clients.unknown": (
        "No such technical account in force.",
        "Aucun compte technique en vigueur de ce nom.",
    ),
    "clients.invalid.label": (
        "Give it a name, at most 80 characters.",
        "Donnez-lui un nom, 80 caractères au plus.",
    ),
    "clients.invalid.spaces": (
        "Tick at least one space it may use.",
        "Cochez au moins un espace qu'il peut utiliser.",
    ),
    "operators.title": ("Operators' mandates", "Mandats d'opérateurs"),
    "operators.intro": (
        "An operator is another organisation (a dematerialisation provider, an accountant)"
        " that submits this organisation's invoices for it, in the modes its mandate names,"
        " from its first day until the principal manager revokes it. It then follows those"
        " invoices as long as a mandate stands.",
        "Un opérateur est une autre structure (opérateur de dématérialisation, cabinet"
        " comptable) qui dépose les factures de cette structure pour elle, selon les modes que"
        " son mandat nomme, à partir de son premier jour et jusqu'à ce que le gestionnaire"
        " principal le révoque. Il suit ces factures tant qu'un mandat est en vigueur.",
    ),
    "operators.granted": ("Operators submitting for it", "Opérateurs qui déposent pour elle"),
    "operators.none": ("No operator holds a mandate.", "Aucun opérateur n'a de mandat."),
    "operators.operator": ("Operator", "Opérateur"),
    "operators.modes": ("Modes", "Modes"),
    "operators.mode.portal": ("typed invoices (portal, API)", "saisie (portail, API)"),
    "operators.mode.pdf": ("PDF deposit", "dépôt de PDF"),
    "operators.mode.edi": ("EDI flows", "flux EDI"),
    "operators.starts": ("From", "À partir du"),
    "operators.state": ("State", "État"),
    "operators.in_force": ("in force", "en vigueur"),
    "operators.revoked": ("revoked", "révoqué le"),
    "operators.revoke": ("Revoke", "Révoquer"),
    "operators.grant": ("Mandate an operator", "Mandater un opérateur"),
    "operators.identifier": ("The operator's identifier", "Identifiant de l'opérateur"),
    "operators.identifier_hint": (
        "The operator must have its organisation on the platform.",
        "L'opérateur doit avoir sa structure sur la plateforme.",
    ),
    "operators.grant_submit": ("Grant the mandate", "Accorder le mandat"),
    "operators.acting_for": (
        "Suppliers it submits for, as an operator",
        "Fournisseurs pour lesquels elle dépose, comme opérateur",
    ),
    "operators.acting_for_none": (
        "No supplier has mandated this organisation.",
        "Aucun fournisseur n'a mandaté cette structure.",
    ),
    "operators.done.granted": ("Mandate granted.", "Mandat accordé."),
    "operators.done.revoked": ("Mandate revoked.", "Mandat révoqué."),
    "operators.forbidden": (
        "Only the organisation's principal manager grants and revokes mandates.",
        "Seul le gestionnaire principal de la structure accorde et révoque les mandats.",
    ),
    "operators.unknown": (
        "No organisation has this identifier on the platform.",
        "Aucune structure n'a cet identifiant sur la plateforme.",
    ),
    "operators.no_mandate": (
        "This operator holds no mandate in force.",
        "Cet opérateur n'a pas de mandat en vigueur.",
    ),
    "operators.invalid.identifier": (
        "Type a valid identifier of another organisation, one that has an identifier.",
        "Saisissez un identifiant valide d'une autre structure, qui en a un.",
    ),
    "operators.invalid.modes": ("Tick at least one mode.", "Cochez au moins un mode."),
    "operators.invalid.starts": (
        "Give a day, today or later (YYYY-MM-DD).",
        "Indiquez un jour, aujourd'hui ou plus tard (AAAA-MM-JJ).",
    ),
    "organisation.done.mandate": ("Mandate signed.", "Mandat signé."),
    "organisation.done.mandate-revoked": (
        "Billing mandate revoked: invoices can no longer be typed until it is signed again.",
        "Mandat de facturation révoqué : plus de saisie de factures avant une nouvelle signature.",
    ),
    "text.revoke.mandate": ("Revoke the mandate", "Révoquer le mandat"),
    "text.revoke_hint": (
        "Revoked, the platform no longer draws up the invoices your users type.",
        "Révoqué, la plateforme ne rédige plus les factures que vos utilisateurs saisissent.",
    ),
    "entry.mandate_title": ("Billing mandate needed", "Mandat de facturation nécessaire"),
    "entry.mandate_text": (
        "{name} has not signed the billing mandate in force: until one of its managers signs"
        " it, invoices cannot be typed on the portal for it (PDF and EDI deposits stay open).",
        "{name} n'a pas signé le mandat de facturation en vigueur : tant qu'un de ses"
        " gestionnaires ne l'a pas signé, ses factures ne peuvent pas être saisies sur le"
        " portail (les dépôts PDF et EDI restent ouverts).",
    ),
    "entry.mandate_link": ("Read and sign the mandate", "Lire et signer le mandat"),
    "base.deposit": ("Deposit a PDF or a flow", "Déposer un PDF ou un flux"),
    "deposit.title": ("Deposit a PDF or send a flow", "Déposer un PDF ou envoyer un flux"),
    "deposit.closed": (
        "This account does not submit invoices.",
        "Ce compte ne dépose pas de factures.",
    ),
    "deposit.refused": ("The deposit is refused", "Le dépôt est refusé"),
    "deposit.pdf": ("A Factur-X PDF", "Un PDF Factur-X"),
    "deposit.pdf_intro": (
        "A PDF that carries its invoice's data (Factur-X), signed or not: the signatures are"
        " verified and their verdict is kept with the invoice. A plain PDF needs its data typed:"
        " use the invoice form.",
        "Un PDF qui porte les données de sa facture (Factur-X), signé ou non : les signatures"
        " sont vérifiées et leur verdict est conservé avec la facture. Un PDF simple demande"
        " ses données saisies : utilisez le formulaire de facture.",
    ),
    "deposit.pdf_file": ("The PDF", "Le PDF"),
    "deposit.pdf_submit": ("Deposit the PDF", "Déposer le PDF"),
    "deposit.edi": ("An EDI flow", "Un flux EDI"),
    "deposit.edi_intro": (
        "One invoice (UBL, CII, Factur-X) or many in a zip or tar.gz: received at once,"
        " processed in the background; its processing report follows.",
        "Une facture (UBL, CII, Factur-X) ou plusieurs dans un zip ou un tar.gz : reçu"
        " aussitôt, traité en arrière-plan ; son compte rendu de traitement suit.",
    ),
    "deposit.edi_file": ("The file", "Le fichier"),
    "deposit.edi_submit": ("Send the flow", "Envoyer le flux"),
    "deposit.done": ("Invoice {number} deposited.", "Facture {number} déposée."),
    "deposit.open": ("open it", "l'ouvrir"),
    "deposit.unsigned": ("The PDF is not signed.", "Le PDF n'est pas signé."),
    "deposit.signature_trusted": (
        "Signature verified: intact, from a trusted signer.",
        "Signature vérifiée : intacte, d'un signataire de confiance.",
    ),
    "deposit.signature_untrusted": (
        "Signature intact, but its signer is not among the trusted ones.",
        "Signature intacte, mais son signataire n'est pas parmi ceux de confiance.",
    ),
    "deposit.signature_broken": (
        "The signature does not verify.",
        "La signature ne se vérifie pas.",
    ),
    "deposit.signer": ("signed by {name}", "signé par {name}"),
    "deposit.no_file": ("Choose a file.", "Choisissez un fichier."),
    "deposit.no_length": ("The upload must state its length.", "L'envoi doit indiquer sa taille."),
    "deposit.too_big": ("The file is too large.", "Le fichier est trop volumineux."),
    "deposit.not_yours": (
        "This invoice is not one of the suppliers this account submits for.",
        "Cette facture n'est pas d'un fournisseur pour lequel ce compte dépose.",
    ),
    "form.pdf": ("The invoice's PDF", "Le PDF de la facture"),
    "form.pdf_hint": (
        "A plain PDF you made of this invoice, signed or not: it becomes the legal document,"
        " the data typed above its structured twin. Without one, the platform draws up the"
        " invoice from the data (billing mandate). Attach it again if the form comes back.",
        "Un PDF simple que vous avez fait de cette facture, signé ou non : il devient le"
        " document légal, les données saisies ci-dessus son double structuré. Sans lui, la"
        " plateforme établit la facture à partir des données (mandat de facturation)."
        " Rejoignez-le de nouveau si le formulaire revient.",
    ),
    "message.back": ("Back to the invoices", "Retour aux factures"),
    "message.forbidden": ("Not allowed", "Non autorisé"),
    "message.not_found": ("No such invoice", "Facture introuvable"),
    "message.not_found_text": (
        "No invoice with this id for this account.",
        "Aucune facture avec cet identifiant pour ce compte.",
    ),
    "message.page_not_found": ("Page not found", "Page introuvable"),
    "message.page_not_found_text": (
        "This address leads to no page of the portal.",
        "Cette adresse ne mène à aucune page du portail.",
    ),
    "message.bad_input": (
        "This request cannot be read",
        "Cette demande ne peut pas être lue",
    ),
    "message.session_ended": (
        "Your session has ended: sign in again.",
        "Votre session a pris fin : reconnectez-vous.",
    ),
    "message.form_expired": (
        "This form is out of date: open it again.",
        "Ce formulaire n'est plus valable : rouvrez-le.",
    ),
    "message.cannot_submit": (
        "This account ({role}) cannot submit invoices.",
        "Ce compte ({role}) ne peut pas déposer de factures.",
    ),
    "message.not_yours": (
        "This account cannot {action}.",
        "Ce compte ne peut pas effectuer l'action « {action} ».",
    ),
    "receipt.none": ("No reception acknowledgment", "Pas d'accusé de réception"),
    "receipt.none_text": (
        "The invoice is not made available to a buyer: it has no reception acknowledgment.",
        "La facture n'est mise à disposition d'aucun destinataire : elle n'a pas d'accusé "
        "de réception.",
    ),
    # ------------------------------------------------------------ list
    "list.heading": ("Your invoices", "Vos factures"),
    "list.heading_buyer": ("Invoices to process", "Factures à traiter"),
    "list.heading_all": ("All invoices", "Toutes les factures"),
    "list.filters": ("Filters", "Filtres"),
    "list.search": ("Invoice number starts with", "Numéro de facture commençant par"),
    "list.category": ("Status", "Statut"),
    "list.any": ("Any", "Tous"),
    "list.recipient": ("Recipient SIRET", "SIRET du destinataire"),
    "list.service": ("Service", "Service"),
    "list.from": ("Issued from", "Émise du"),
    "list.to": ("Issued until", "Émise jusqu'au"),
    "list.apply": ("Apply the filters", "Appliquer les filtres"),
    "list.reset": ("Clear the filters", "Effacer les filtres"),
    "list.caption": ("Invoices, newest first", "Factures, les plus récentes d'abord"),
    "list.caption_more": ("(continued)", "(suite)"),
    "list.actions": ("Actions", "Actions"),
    "list.open": ("Open", "Ouvrir"),
    "list.empty": ("No invoice matches.", "Aucune facture ne correspond."),
    "list.pages": ("Pages", "Pages"),
    "list.first": ("Newest invoices", "Factures les plus récentes"),
    "list.next": ("Older invoices", "Factures plus anciennes"),
    # ------------------------------------------------------------ invoice
    "invoice.title": ("Invoice {number}", "Facture {number}"),
    "invoice.recording": (
        "The invoice is submitted and being recorded: this page refreshes in a moment.",
        "La facture est déposée et en cours d'enregistrement : cette page s'actualise dans "
        "un instant.",
    ),
    "invoice.number": ("Number", "Numéro"),
    "invoice.supplier": ("Supplier", "Fournisseur"),
    "invoice.recipient": ("Recipient", "Destinataire"),
    "invoice.service": ("service", "service"),
    "invoice.kind": ("Kind", "Type"),
    "invoice.issue_date": ("Issue date", "Date d'émission"),
    "invoice.due_date": ("Due date", "Date d'échéance"),
    "invoice.net": ("Total excluding VAT", "Total hors TVA"),
    "invoice.vat": ("VAT", "TVA"),
    "invoice.gross": ("Total including VAT", "Total TTC"),
    "invoice.payable": ("Amount payable", "Montant à payer"),
    "invoice.payment_order": ("Payment order", "Mandat de paiement"),
    "invoice.submitted": ("Submitted", "Déposée le"),
    "invoice.flow": ("Flow", "Flux"),
    "invoice.flow_report": ("Processing report of the flow", "Compte-rendu de traitement du flux"),
    "invoice.id": ("Invoice id", "Identifiant de la facture"),
    "invoice.status": ("Status", "Statut"),
    "invoice.chorus_status": ("Chorus status", "Statut Chorus"),
    "invoice.summary": ("Summary", "Résumé"),
    "invoice.actions": ("What you can do now", "Ce que vous pouvez faire maintenant"),
    "invoice.action_refused": ("“{action}” was not done", "« {action} » n'a pas été fait"),
    "invoice.done": (
        "Done: {action}. The status shown follows in a moment.",
        "C'est fait : {action}. Le statut affiché suit dans un instant.",
    ),
    "invoice.done_now": (
        "Done: {action}. The timeline follows in a moment.",
        "C'est fait : {action}. L'historique suit dans un instant.",
    ),
    "invoice.live_changed": (
        "This invoice has just changed: it is now {status}. The page is up to date.",
        "Cette facture vient de changer : elle est maintenant {status}. La page est à jour.",
    ),
    "invoice.codes": (
        "Chorus status and reform code",
        "Statut Chorus et code de la réforme",
    ),
    "invoice.payment": ("Payment", "Paiement"),
    "invoice.documents": ("Documents", "Documents"),
    "invoice.receipt": ("Reception acknowledgment (JSON)", "Accusé de réception (JSON)"),
    "invoice.receipt_of": ("received {when}", "reçue le {when}"),
    "invoice.timeline": ("Timeline", "Historique"),
    "invoice.type_another": ("Type another invoice", "Saisir une autre facture"),
    "timeline.caption": (
        "Every step of the invoice, oldest first",
        "Chaque étape, la plus ancienne d'abord",
    ),
    "timeline.when": ("When", "Quand"),
    "timeline.what": ("What happened", "Ce qui s'est passé"),
    "timeline.by": ("By", "Par"),
    "timeline.codes": (
        "Event, Chorus status and reform code",
        "Événement, statut Chorus et code de la réforme",
    ),
    # Each step of the timeline in the user's words ({buyer}: the structure's name).
    "event.Submitted": ("Invoice submitted", "Facture déposée"),
    "event.Routed": (
        "Checked by the platform and sent to {buyer}",
        "Contrôlée par la plateforme et envoyée à {buyer}",
    ),
    "event.MadeAvailable": ("Received by {buyer}", "Reçue par {buyer}"),
    "event.TakenInHand": (
        "Taken in hand by the buyer's invoicing service",
        "Prise en charge par le service facturier de l'acheteur",
    ),
    "event.Suspended": (
        "Suspended: documents are missing",
        "Suspendue : des pièces manquent",
    ),
    "event.Completed": (
        "Completed with what the buyer asked for",
        "Complétée avec ce que l'acheteur demandait",
    ),
    "event.MarkedForRerouting": (
        "Sent back: addressed to the wrong service",
        "Renvoyée : adressée au mauvais service",
    ),
    "event.Rerouted": ("Re-addressed to {buyer}", "Réadressée à {buyer}"),
    "event.Rejected": ("Rejected by the buyer", "Rejetée par l'acheteur"),
    "event.ServiceCertified": (
        "Service certified as done",
        "Service fait certifié",
    ),
    "event.PaymentOrdered": ("Payment ordered", "Paiement ordonné (mandatement)"),
    "event.HandedToAccounting": (
        "Handed to the public accountant",
        "Transmise au comptable public",
    ),
    "event.RecordedInAccounts": (
        "Recorded by the public accountant",
        "Comptabilisée par le comptable public",
    ),
    "event.PaymentSent": ("Payment sent", "Paiement envoyé"),
    "actor.you": ("you", "vous"),
    "actor.platform": ("the platform", "la plateforme"),
    "actor.buyer": ("the buyer ({siret})", "l'acheteur ({siret})"),
    "actor.operator": (
        "an operator, for the supplier",
        "un opérateur, pour le fournisseur",
    ),
    "actor.admin": ("an administrator ({label})", "un administrateur ({label})"),
    "actor.auditor": ("an auditor ({label})", "un auditeur ({label})"),
    "timeline.reason": ("Reason or comment", "Motif ou commentaire"),
    "document.invoice": ("the invoice", "la facture"),
    "document.data": ("its data, XML", "ses données, XML"),
    "document.attachment": ("attachment", "pièce jointe"),
    "document.size": ("{n} bytes", "{n} octets"),
    "mode.portal": ("typed in the portal", "saisie sur le portail"),
    "mode.pdf": ("PDF deposit", "dépôt PDF"),
    "mode.edi": ("EDI flow", "flux EDI"),
    "kind.380": ("invoice (380)", "facture (380)"),
    "kind.381": ("credit note (381)", "avoir (381)"),
    "kind.384": ("corrective invoice (384)", "facture rectificative (384)"),
    "kind.389": ("self-billed invoice (389)", "autofacture (389)"),
    # ------------------------------------------------------------ payment
    "payment.received_on": ("Received on", "Reçue le"),
    "payment.period": ("Legal payment period", "Délai global de paiement"),
    "payment.days": ("{n} days", "{n} jours"),
    "payment.plus_suspended": ("+ {n} days suspended", "+ {n} jours de suspension"),
    "payment.deadline": ("Payment deadline", "Date limite de paiement"),
    "payment.clock": ("Payment clock", "Délai"),
    "payment.elapsed": ("Days elapsed", "Jours écoulés"),
    "payment.late": ("Late", "Retard"),
    "payment.days_late": ("{n} days late", "{n} jours de retard"),
    "payment.paid": ("Paid", "Payée"),
    "payment.interest": ("Late-payment interest", "Intérêts moratoires"),
    "payment.interest_when_paid": (
        "computed on the payment (amount and date)",
        "calculés au paiement (montant et date)",
    ),
    "payment.indemnity": ("Recovery indemnity", "Indemnité forfaitaire de recouvrement"),
    "payment.total_owed": ("Owed to the supplier", "Dû au fournisseur"),
    "payment.none": (
        "No payment deadline yet: it starts when the buyer's service receives the invoice.",
        "Pas encore de délai de paiement : il court dès la réception par le service du "
        "destinataire.",
    ),
    "clock.not-received": ("not started", "pas commencé"),
    "clock.not-applicable": ("none (credit note)", "aucun (avoir)"),
    "clock.running": ("running", "en cours"),
    "clock.suspended": ("stopped: invoice suspended", "arrêté : facture suspendue"),
    "clock.paid": ("paid", "payée"),
    "clock.rejected": ("stopped: invoice rejected", "arrêté : facture rejetée"),
    "clock.rerouting": ("stopped: to re-route", "arrêté : à réacheminer"),
    # ------------------------------------------------------------ statuses
    "summary.submitted": ("submitted", "déposée"),
    "summary.received": ("received", "reçue"),
    "summary.in processing": ("in processing", "en cours de traitement"),
    "summary.action needed": ("action needed", "action requise"),
    "summary.rejected": ("rejected", "rejetée"),
    "summary.paid": ("paid", "payée"),
    "status.DEPOSEE": ("submitted", "déposée"),
    "status.EN_COURS_ACHEMINEMENT": ("being routed", "en cours d'acheminement"),
    "status.MISE_A_DISPOSITION": (
        "received by the invoice-processing service",
        "mise à disposition du service facturier",
    ),
    "status.PRISE_EN_COMPTE_DESTINATAIRE": (
        "taken in hand by the buyer",
        "prise en compte par le destinataire",
    ),
    "status.SUSPENDUE": ("suspended: documents missing", "suspendue : pièces manquantes"),
    "status.COMPLETEE": ("completed by the supplier", "complétée par le fournisseur"),
    "status.A_RECYCLER": (
        "sent to the wrong service: re-route it",
        "adressée au mauvais service : à recycler",
    ),
    "status.REJETEE": ("rejected by the buyer", "rejetée par le destinataire"),
    "status.SERVICE_FAIT": ("service certified", "service fait"),
    "status.MANDATEE": ("payment ordered", "mandatée"),
    "status.MISE_A_DISPOSITION_COMPTABLE": (
        "with the public accountant",
        "mise à disposition du comptable",
    ),
    "status.COMPTABILISEE": ("recorded by the public accountant", "comptabilisée"),
    "status.MISE_EN_PAIEMENT": ("paid", "mise en paiement"),
    # ------------------------------------------------------------ actions
    "action.route": ("route", "acheminer"),
    "action.make-available": ("make available", "mettre à disposition"),
    "action.take-in-hand": ("Take in hand", "Prendre en compte"),
    "action.suspend": ("Suspend", "Suspendre"),
    "action.complete": ("Complete the invoice", "Compléter la facture"),
    "action.mark-for-rerouting": ("Send back to re-route", "Renvoyer pour recyclage"),
    "action.reroute": ("Re-route the invoice", "Recycler la facture"),
    "action.reject": ("Reject", "Rejeter"),
    "action.certify-service-done": ("Certify service done", "Certifier le service fait"),
    "action.order-payment": ("Order payment", "Mandater"),
    "action.hand-to-accounting": ("Hand to accounting", "Transmettre au comptable"),
    "action.record-in-accounts": ("Record in the accounts", "Comptabiliser"),
    "action.pay": ("Mark paid", "Marquer payée"),
    "action_hint.route": ("", ""),
    "action_hint.make-available": ("", ""),
    "action_hint.take-in-hand": (
        "The service starts processing the invoice.",
        "Le service commence le traitement de la facture.",
    ),
    "action_hint.suspend": (
        "Documents are missing: the supplier is asked to complete the invoice; the payment "
        "clock stops meanwhile.",
        "Des pièces manquent : le fournisseur doit compléter la facture ; le délai de "
        "paiement est suspendu entre-temps.",
    ),
    "action_hint.complete": (
        "Add what the buyer asked for: a comment and, if needed, a document.",
        "Ajoutez ce que le destinataire demande : un commentaire et, si besoin, un document.",
    ),
    "action_hint.mark-for-rerouting": (
        "The invoice is not for this service: the supplier re-routes it.",
        "La facture n'est pas pour ce service : le fournisseur doit la recycler.",
    ),
    "action_hint.reroute": (
        "Give the right recipient; the invoice keeps its number.",
        "Indiquez le bon destinataire ; la facture garde son numéro.",
    ),
    "action_hint.reject": (
        "Final: the supplier must issue a new invoice with a new number.",
        "Définitif : le fournisseur devra émettre une nouvelle facture, avec un nouveau numéro.",
    ),
    "action_hint.certify-service-done": (
        "The goods or services were delivered as ordered.",
        "Les biens ou services ont été livrés conformément à la commande.",
    ),
    "action_hint.order-payment": (
        "Give the payment order number.",
        "Indiquez le numéro du mandat de paiement.",
    ),
    "action_hint.hand-to-accounting": (
        "The public accountant takes over.",
        "Le comptable public prend la suite.",
    ),
    "action_hint.record-in-accounts": (
        "The public accountant records the invoice.",
        "Le comptable public comptabilise la facture.",
    ),
    "action_hint.pay": (
        "The payment was sent: its amount, date and reference.",
        "Le paiement est parti : montant, date et référence.",
    ),
    "field.reason": ("Explanation for the supplier", "Explication pour le fournisseur"),
    "field.reason_code": ("Reason", "Motif"),
    "choose.reason_code": ("— choose a reason —", "— choisissez un motif —"),
    "error.choose.reason_code": ("Choose a reason.", "Choisissez un motif."),
    "field.comment": ("Comment", "Commentaire"),
    "field.attachment": ("Document (optional)", "Document (facultatif)"),
    "field.recipient_siret": ("Recipient SIRET", "SIRET du destinataire"),
    "field.service_code": ("Service code", "Code service"),
    "field.order_reference": ("Order reference (EJ)", "Engagement juridique (EJ)"),
    "field.payment_order_number": ("Payment order number", "Numéro du mandat"),
    "field.amount": ("Amount paid", "Montant payé"),
    "field.payment_date": ("Payment date", "Date du paiement"),
    "field.payment_reference": ("Payment reference", "Référence du paiement"),
    # Reason codes in words; the code follows in brackets ("Duplicate invoice (DOUBLON)").
    "reason.DOUBLON": ("Duplicate invoice", "Facture en double"),
    "reason.DEST_INC": ("Unknown recipient", "Destinataire inconnu"),
    "reason.DEST_ERR": ("Wrong recipient", "Erreur de destinataire"),
    "reason.SIRET_ERR": ("Invalid SIRET", "SIRET erroné"),
    "reason.CODE_ROUTAGE_ERR": ("Wrong service code", "Code service erroné"),
    "reason.REF_CT_ABSENT": (
        "Contract or order reference missing",
        "Référence contractuelle absente",
    ),
    "reason.CMD_ERR": ("Wrong order reference (EJ)", "Engagement juridique erroné"),
    "reason.MONTANTTOTAL_ERR": ("Wrong total amount", "Montant total erroné"),
    "reason.CALCUL_ERR": ("Calculation error", "Erreur de calcul"),
    "reason.TX_TVA_ERR": ("Wrong VAT rate", "Taux de TVA erroné"),
    "reason.JUSTIF_ABS": ("Supporting document missing", "Justificatif absent"),
    "reason.NON_CONFORME": ("Non-compliant invoice", "Facture non conforme"),
    "reason.REJ_SEMAN": ("Inconsistent content", "Rejet sémantique"),
    "reason.REJ_UNI": ("Not unique", "Rejet d'unicité"),
    "reason.IRR_SYNTAX": ("File syntax error", "Syntaxe du fichier irrégulière"),
    "reason.IRR_TYPE_F": ("Wrong file type", "Type de fichier irrégulier"),
    "reason.IRR_TAILLE_F": ("File too large", "Fichier trop volumineux"),
    "reason.IRR_TAILLE_PJ": ("Attachment too large", "Pièce jointe trop volumineuse"),
    "reason.IRR_VIDE_F": ("Empty file", "Fichier vide"),
    "reason.IRR_ANTIVIRUS": ("Virus found", "Virus détecté"),
    "reason.AUTRE": ("Other reason", "Autre motif"),
    # ------------------------------------------------------------ the invoice form
    "form.invoice": ("Invoice", "Facture"),
    "form.supplier_scheme": ("Identifier scheme", "Type d'identifiant"),
    "form.supplier_id": ("Supplier identifier", "Identifiant du fournisseur"),
    "form.supplier_id.locked": (
        "The supplier your account submits for.",
        "Le fournisseur pour lequel votre compte dépose.",
    ),
    "form.supplier_id.hint": (
        "For a French company, its SIRET (14 digits).",
        "Pour une entreprise française, son SIRET (14 chiffres).",
    ),
    "form.mandates": ("You submit for: {ids}.", "Vous déposez pour : {ids}."),
    "form.supplier_name": ("Supplier name", "Raison sociale du fournisseur"),
    "form.supplier_vat_number": ("VAT number", "Numéro de TVA"),
    "form.supplier_vat_number.hint": (
        "Optional: computed from the SIREN of a French company when left empty.",
        "Facultatif : déduit du SIREN d'une entreprise française s'il est laissé vide.",
    ),
    "form.supplier_address_line1": ("Address", "Adresse"),
    "form.supplier_address_line2": ("Address, line 2", "Adresse, ligne 2"),
    "form.supplier_address_postcode": ("Postcode", "Code postal"),
    "form.supplier_address_city": ("City", "Ville"),
    "form.supplier_address_country": ("Country", "Pays"),
    "form.supplier_address_country.hint": ("2 letters, e.g. FR.", "2 lettres, par exemple FR."),
    "form.recipient_siret": ("Recipient SIRET", "SIRET du destinataire"),
    "form.recipient_siret.hint": (
        "The public buyer's SIRET, 14 digits.",
        "Le SIRET de la structure publique, 14 chiffres.",
    ),
    "form.buyer_q": ("Find the public buyer", "Trouver l'acheteur public"),
    "form.buyer_q.hint": (
        "Its name, SIRET, or the name or code of its service, e.g. “mairie”. Choosing a "
        "result fills in the SIRET and the service code below.",
        "Son nom, son SIRET, ou le nom ou le code de son service, par exemple « mairie ». "
        "Choisir un résultat remplit le SIRET et le code service ci-dessous.",
    ),
    "form.buyer_search": ("Search", "Rechercher"),
    "form.buyer_results": ("Public buyers found", "Acheteurs publics trouvés"),
    "form.buyer_count": ("{n} found", "{n} trouvé(s)"),
    "form.buyer_none": (
        "No public buyer or service matches “{q}”.",
        "Aucun acheteur public ni service ne correspond à « {q} ».",
    ),
    "form.buyer_short": ("Type at least 2 characters.", "Saisissez au moins 2 caractères."),
    "form.buyer_choose": ("Choose", "Choisir"),
    "form.buyer_whole": ("no particular service", "sans service particulier"),
    "form.buyer_ej": ("order reference (EJ) required", "engagement juridique (EJ) exigé"),
    "form.buyer_picked": (
        "Recipient filled in: {name}, SIRET {siret}{service}.",
        "Destinataire rempli : {name}, SIRET {siret}{service}.",
    ),
    "form.buyer_picked_service": (", service {code}", ", service {code}"),
    "form.service_code": ("Service code", "Code service"),
    "form.service_code.hint": (
        "The buyer's service the invoice is for, when it requires one.",
        "Le service destinataire de la facture, quand la structure l'exige.",
    ),
    "form.order_reference": ("Order reference (EJ)", "Engagement juridique (EJ)"),
    "form.order_reference.hint": (
        "The engagement juridique number on the purchase order, when there is one.",
        "Le numéro d'engagement juridique du bon de commande, s'il y en a un.",
    ),
    "form.number": ("Invoice number", "Numéro de facture"),
    "form.number.hint": (
        "1 to 20 characters, unique for the year.",
        "1 à 20 caractères, unique dans l'année.",
    ),
    "form.kind": ("Kind", "Type"),
    "form.issue_date": ("Issue date", "Date d'émission"),
    "form.due_date": ("Due date", "Date d'échéance"),
    "form.optional": ("Optional.", "Facultatif."),
    "form.currency": ("Currency", "Devise"),
    "form.currency.hint": ("3 letters, e.g. EUR.", "3 lettres, par exemple EUR."),
    "form.iban": ("IBAN", "IBAN"),
    "form.iban.hint": (
        "The account to pay, for a transfer.",
        "Le compte à créditer, pour un virement.",
    ),
    "form.bic": ("BIC", "BIC"),
    "form.payment_terms": ("Payment terms", "Conditions de paiement"),
    "form.payment_terms.hint": (
        "Without a due date: 30 days from receipt (délai global de paiement).",
        "Sans date d'échéance : 30 jours à réception (délai global de paiement).",
    ),
    "form.lines": ("Lines", "Lignes"),
    "form.lines_caption": (
        "Invoice lines; amounts excluding VAT",
        "Lignes de la facture ; montants hors TVA",
    ),
    "form.line_n": ("Line {n}", "Ligne {n}"),
    "form.line.name": ("description", "désignation"),
    "form.line.quantity": ("quantity", "quantité"),
    "form.line.unit": ("unit", "unité"),
    "form.line.unit_price": ("unit price excluding VAT", "prix unitaire hors TVA"),
    "form.line.vat": ("VAT rate", "taux de TVA"),
    "form.col.name": ("Description", "Désignation"),
    "form.col.quantity": ("Quantity", "Quantité"),
    "form.col.unit": ("Unit", "Unité"),
    "form.col.unit_price": ("Unit price excl. VAT", "Prix unitaire HT"),
    "form.col.net": ("Net amount", "Montant HT"),
    "form.col.remove": ("Remove", "Supprimer"),
    "form.col.category": ("Category", "Catégorie"),
    "form.col.rate": ("Rate", "Taux"),
    "form.col.taxable": ("Taxable amount", "Base imposable"),
    "form.remove_line": ("Remove line {n}", "Supprimer la ligne {n}"),
    "form.add_line": ("Add a line", "Ajouter une ligne"),
    "form.vat_exemption_reason": ("VAT exemption reason", "Motif d'exonération de TVA"),
    "form.vat_exemption_reason.hint": (
        "For exempt (E) or reverse-charge (AE) lines: the legal reason, e.g. article 261 of "
        "the CGI.",
        "Pour les lignes exonérées (E) ou autoliquidées (AE) : le motif légal, par exemple "
        "l'article 261 du CGI.",
    ),
    "form.totals": ("Totals", "Totaux"),
    "form.breakdown": ("VAT breakdown", "Ventilation de la TVA"),
    "form.left_out": (
        "Not counted until their quantity and unit price are numbers: line",
        "Non comptées tant que quantité et prix unitaire ne sont pas des nombres : ligne",
    ),
    "form.compute": ("Compute totals", "Calculer les totaux"),
    "form.submit": ("Submit the invoice", "Déposer la facture"),
    "form.problem": ("1 problem", "1 problème"),
    "form.problems": ("{n} problems", "{n} problèmes"),
    "form.rule": ("rule", "règle"),
    "form.at": ("at", "à"),
    "form.not_submitted": ("The invoice was not submitted", "La facture n'a pas été déposée"),
    "form.not_counted": ("Lines not counted in the totals", "Lignes non comptées dans les totaux"),
    "form.error.one_line": ("Add at least one line.", "Ajoutez au moins une ligne."),
    "form.error.number": ("Enter a number, e.g. 12.50.", "Saisissez un nombre, par exemple 12,50."),
    "form.error.too_many": (
        "At most {n} lines here: send larger invoices as a file.",
        "Au plus {n} lignes ici : envoyez les factures plus longues sous forme de fichier.",
    ),
    "form.error.not_mandated": (
        "This account does not submit invoices for supplier {supplier}.",
        "Ce compte ne dépose pas de factures pour le fournisseur {supplier}.",
    ),
    "form.hint.recipient_siret": ("A SIRET is 14 digits.", "Un SIRET comporte 14 chiffres."),
    "form.hint.currency": (
        "A 3-letter currency code, e.g. EUR.",
        "Un code devise de 3 lettres, par exemple EUR.",
    ),
    "form.hint.country": (
        "A 2-letter country code, e.g. FR.",
        "Un code pays de 2 lettres, par exemple FR.",
    ),
    "form.vat.S:20": ("20 %", "20 %"),
    "form.vat.S:10": ("10 %", "10 %"),
    "form.vat.S:5.5": ("5.5 %", "5,5 %"),
    "form.vat.S:2.1": ("2.1 %", "2,1 %"),
    "form.vat.Z:0": ("0 % zero rated (Z)", "0 % taux zéro (Z)"),
    "form.vat.E:0": ("0 % exempt (E)", "0 % exonéré (E)"),
    "form.vat.AE:0": ("0 % reverse charge (AE)", "0 % autoliquidation (AE)"),
    "form.vat.K:0": ("0 % intra-EU supply (K)", "0 % livraison intracommunautaire (K)"),
    "form.vat.G:0": ("0 % export outside the EU (G)", "0 % exportation hors UE (G)"),
    "form.unit.C62": ("unit (C62)", "unité (C62)"),
    "form.unit.H87": ("piece (H87)", "pièce (H87)"),
    "form.unit.HUR": ("hour (HUR)", "heure (HUR)"),
    "form.unit.DAY": ("day (DAY)", "jour (DAY)"),
    "form.unit.MON": ("month (MON)", "mois (MON)"),
    "form.unit.KGM": ("kilogram (KGM)", "kilogramme (KGM)"),
    "form.unit.MTR": ("metre (MTR)", "mètre (MTR)"),
    "form.unit.MTK": ("square metre (MTK)", "mètre carré (MTK)"),
    "form.unit.LTR": ("litre (LTR)", "litre (LTR)"),
    "form.unit.LS": ("lump sum (LS)", "forfait (LS)"),
    # ------------------------------------------------------------ e-mail notifications
    "base.notifications": ("E-mail notifications", "Notifications par courriel"),
    "notify.title": ("E-mail notifications", "Notifications par courriel"),
    "notify.intro": (
        "Be told by e-mail when one of your invoices reaches a status you choose. A change"
        " applies to the statuses reached from now on.",
        "Soyez prévenu par courriel quand l'une de vos factures atteint un statut choisi."
        " Un changement vaut pour les statuts atteints à partir de maintenant.",
    ),
    "notify.subscribed": ("E-mails go to {email}.", "Les courriels partent vers {email}."),
    "notify.not_subscribed": (
        "You receive no e-mails yet.",
        "Vous ne recevez encore aucun courriel.",
    ),
    "notify.email": ("E-mail address", "Adresse électronique"),
    "notify.statuses": ("Statuses to be told about", "Statuts à signaler"),
    "notify.language": ("Language of the e-mails", "Langue des courriels"),
    "notify.save": ("Save", "Enregistrer"),
    "notify.remove": ("Stop the e-mails", "Arrêter les courriels"),
    "notify.done.saved": ("Your choices are saved.", "Vos choix sont enregistrés."),
    "notify.done.removed": (
        "You will receive no more e-mails.",
        "Vous ne recevrez plus de courriels.",
    ),
    "notify.invalid.email": (
        "Enter one e-mail address, like compta@example.fr",
        "Saisissez une adresse électronique, comme compta@example.fr",
    ),
    "notify.invalid.statuses": (
        "Choose at least one status, or stop the e-mails",
        "Choisissez au moins un statut, ou arrêtez les courriels",
    ),
    "notify.invalid.language": ("Choose English or French", "Choisissez l'anglais ou le français"),
    "notify.suppliers_only": (
        "Only a supplier's own account chooses its e-mails.",
        "Seul le compte du fournisseur choisit ses courriels.",
    ),
    # ------------------------------------------------------------ flow report
    "flow.title": ("Processing report of flow", "Compte-rendu de traitement du flux"),
    "flow.processing": (
        "processing: this page refreshes",
        "en cours de traitement : cette page s'actualise",
    ),
    "flow.file": ("File", "Fichier"),
    "flow.received": ("Received", "Reçu"),
    "flow.entries": ("Entries", "Entrées"),
    "flow.counts": (
        "{entries}: {integrated} integrated, {rejected} rejected, {pending} pending",
        "{entries} : {integrated} intégrées, {rejected} rejetées, {pending} en attente",
    ),
    "flow.refused": ("The file was refused", "Le fichier a été refusé"),
    "flow.caption": ("Invoices of the flow", "Factures du flux"),
    "flow.entry": ("Entry", "Entrée"),
    "flow.outcome": ("Outcome", "Résultat"),
    "flow.invoice": ("Invoice", "Facture"),
    "flow.errors": ("Errors and warnings", "Erreurs et avertissements"),
    "flow.warning": ("warning", "avertissement"),
    "flow.outcome.integrated": ("integrated", "intégrée"),
    "flow.outcome.rejected": ("rejected", "rejetée"),
    "flow.outcome.pending": ("pending", "en attente"),
    # ------------------------------------------------------------ errors
    "error.required": ("Required.", "Obligatoire."),
    "error.amount": (
        "Enter a positive amount, e.g. 120.50.",
        "Saisissez un montant positif, par exemple 120,50.",
    ),
    "error.date": ("Enter a date (YYYY-MM-DD).", "Saisissez une date (AAAA-MM-JJ)."),
    "error.siret": ("A SIRET is 14 digits.", "Un SIRET comporte 14 chiffres."),
    "error.too_long": ("Too long.", "Trop long."),
    "error.not_allowed": (
        "Not possible now: the invoice is {status}.",
        "Impossible maintenant : la facture est {status}.",
    ),
    "error.attachment_type": (
        "IRR_TYPE_F: attach a PDF, PNG, JPEG, XML, TXT or CSV file.",
        "IRR_TYPE_F : joignez un fichier PDF, PNG, JPEG, XML, TXT ou CSV.",
    ),
    "error.attachment_empty": (
        "IRR_VIDE_F: the file is empty.",
        "IRR_VIDE_F : le fichier est vide.",
    ),
    "error.attachment_size": (
        "IRR_TAILLE_PJ: an attachment is at most {mb} MB.",
        "IRR_TAILLE_PJ : une pièce jointe fait au plus {mb} Mo.",
    ),
}


def negotiate(cookie: str | None, accept_language: str) -> str:
    """The page's language: the switch's cookie, else the best of Accept-Language."""
    if cookie in CODES:
        return str(cookie)
    best, best_q = DEFAULT, -1.0
    for item in accept_language.split(","):
        tag, _, params = item.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in CODES:
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > best_q:
            best, best_q = code, q
    return best


def translator(lang: str) -> Callable[..., str]:
    """`t(key, **values)` in `lang`; an unknown key shows as itself (a test finds them)."""
    index = CODES.index(lang) if lang in CODES else 0

    def t(key: str, **values: object) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return key
        if any(isinstance(v, Markup) for v in values.values()):
            # Markup given (a <time> element): the text is escaped, the markup kept as is.
            return Markup(escape(entry[index])).format(**values)
        return entry[index].format(**values) if values else entry[index]

    return t
