"""The identity area's emails, in English and French, as text and HTML.

Each message names the link it carries in full (``public_url`` + path): a link built
from the request's Host header could be pointed at an attacker's site.
"""

from __future__ import annotations

from html import escape

import attrs

from postroom.core.ports import Notification, Translation

SUBJECTS = {
    "verify": {
        "en": "Confirm your email address",
        "fr": "Confirmez votre adresse e-mail",
    },
    "duplicate": {
        "en": "Someone tried to register with your email address",
        "fr": "Quelqu'un a tenté de s'inscrire avec votre adresse e-mail",
    },
    "reset": {
        "en": "Reset your postroom password",
        "fr": "Réinitialisez votre mot de passe postroom",
    },
    "invitation": {
        "en": "You are invited to postroom",
        "fr": "Vous êtes invité(e) sur postroom",
    },
    "email-change": {
        "en": "Confirm your new email address",
        "fr": "Confirmez votre nouvelle adresse e-mail",
    },
    "email-changed": {
        "en": "Your postroom email address was changed",
        "fr": "L'adresse e-mail de votre compte postroom a été modifiée",
    },
    "joined": {
        "en": "Someone joined your postroom account",
        "fr": "Une personne a rejoint votre compte postroom",
    },
    "password-changed": {
        "en": "Your postroom password was changed",
        "fr": "Le mot de passe de votre compte postroom a été modifié",
    },
}

BODIES = {
    "verify": {
        "en": (
            "Hello {name},\n\nplease confirm your email address to finish your registration:"
            "\n\n{link}\n\nThe link works once, for {hours} hours. An account not confirmed "
            "within 30 days is deleted.\nIf you did not register, ignore this message."
        ),
        "fr": (
            "Bonjour {name},\n\nconfirmez votre adresse e-mail pour terminer votre inscription :"
            "\n\n{link}\n\nLe lien sert une fois, pendant {hours} heures. Un compte non "
            "confirmé sous 30 jours est supprimé.\nSi vous ne vous êtes pas inscrit(e), "
            "ignorez ce message."
        ),
    },
    "duplicate": {
        "en": (
            "Hello {name},\n\nsomeone tried to register a new postroom account with this email "
            "address, which already has one. If it was you, sign in here:\n\n{link}\n\n"
            "Forgot your password? Reset it from the sign-in page.\nIf it was not you, "
            "nothing changed and you need not do anything."
        ),
        "fr": (
            "Bonjour {name},\n\nquelqu'un a tenté d'ouvrir un compte postroom avec cette "
            "adresse, qui en a déjà un. Si c'était vous, connectez-vous ici :\n\n{link}\n\n"
            "Mot de passe oublié ? Réinitialisez-le depuis la page de connexion.\nSi ce "
            "n'était pas vous, rien n'a changé et vous n'avez rien à faire."
        ),
    },
    "reset": {
        "en": (
            "Hello {name},\n\nto choose a new password, open this link and answer your "
            "security question:\n\n{link}\n\nThe link works once, for {hours} hour(s).\n"
            "If you did not ask for it, ignore this message: your password stays as it is."
        ),
        "fr": (
            "Bonjour {name},\n\npour choisir un nouveau mot de passe, ouvrez ce lien et "
            "répondez à votre question de sécurité :\n\n{link}\n\nLe lien sert une fois, "
            "pendant {hours} heure(s).\nSi vous ne l'avez pas demandé, ignorez ce message : "
            "votre mot de passe ne change pas."
        ),
    },
    "invitation": {
        "en": (
            "Hello,\n\n{inviter} invites you to postroom ({where}) as {role}.\nAccept the "
            "invitation and choose your password here:\n\n{link}\n\nThe link works once, "
            "for {hours} hours."
        ),
        "fr": (
            "Bonjour,\n\n{inviter} vous invite sur postroom ({where}) avec le rôle {role}.\n"
            "Acceptez l'invitation et choisissez votre mot de passe ici :\n\n{link}\n\n"
            "Le lien sert une fois, pendant {hours} heures."
        ),
    },
    "email-change": {
        "en": (
            "Hello {name},\n\nto make this address the one you sign in with, open:\n\n"
            "{link}\n\nThe link works once, for {hours} hours. Until then your old address "
            "stays in use."
        ),
        "fr": (
            "Bonjour {name},\n\npour vous connecter désormais avec cette adresse, ouvrez :"
            "\n\n{link}\n\nLe lien sert une fois, pendant {hours} heures. D'ici là, votre "
            "ancienne adresse reste en service."
        ),
    },
    "email-changed": {
        "en": (
            "Hello {name},\n\nthe email address of your postroom account is now {new}.\n"
            "If you did not do this, contact support at once."
        ),
        "fr": (
            "Bonjour {name},\n\nl'adresse e-mail de votre compte postroom est désormais "
            "{new}.\nSi ce n'est pas vous, contactez le support sans attendre."
        ),
    },
    "joined": {
        "en": (
            "Hello,\n\n{name} ({email}) joined your customer account {number} as a mailroom "
            "operator, with one of its meters' serial numbers.\nIf you do not know them, "
            "remove them on the users page:\n\n{link}"
        ),
        "fr": (
            "Bonjour,\n\n{name} ({email}) a rejoint votre compte client {number} en tant "
            "qu'opérateur du courrier, avec le numéro de série de l'une de ses machines.\n"
            "Si vous ne connaissez pas cette personne, retirez-la sur la page des "
            "utilisateurs :\n\n{link}"
        ),
    },
    "password-changed": {
        "en": (
            "Hello {name},\n\nthe password of your postroom account was changed, and every "
            "other signed-in session was ended.\nIf you did not do this, reset your password "
            "from the sign-in page and contact support."
        ),
        "fr": (
            "Bonjour {name},\n\nle mot de passe de votre compte postroom a été modifié et "
            "toutes les autres sessions ont été fermées.\nSi ce n'est pas vous, "
            "réinitialisez votre mot de passe depuis la page de connexion et contactez le "
            "support."
        ),
    },
}

ROLE_NAMES = {
    "en": {
        "owner": "owner",
        "admin": "administrator",
        "user": "mailroom operator",
        "agent": "support agent",
        "supervisor": "supervisor",
        "account-manager": "account manager",
    },
    "fr": {
        "owner": "propriétaire",
        "admin": "administrateur",
        "user": "opérateur du courrier",
        "agent": "agent du support",
        "supervisor": "superviseur",
        "account-manager": "responsable de compte",
    },
}


@attrs.frozen
class Mailer:
    """Writes the identity area's messages for one installation's public address."""

    public_url: str

    def link(self, path: str) -> str:
        return self.public_url.rstrip("/") + path

    def message(self, kind: str, recipient: str, language: str, **values: str) -> Notification:
        lang = language if language in ("en", "fr") else "en"
        text = BODIES[kind][lang].format(**values)
        return Notification(
            recipient=recipient,
            subject=SUBJECTS[kind][lang],
            body=text,
            channel="email",
            kind=f"identity.{kind}",
            language=lang,
            html=as_html(text),
        )

    def to_customer(self, kind: str, customer_number: str, **values: str) -> Notification:
        """A message to a customer account's owners and admins, each in their language."""
        english = self.message(kind, f"customer:{customer_number}", "en", **values)
        french = self.message(kind, f"customer:{customer_number}", "fr", **values)
        return attrs.evolve(
            english,
            translations={"fr": Translation(french.subject, french.body, french.html)},
        )

    def role_name(self, role: str, language: str) -> str:
        return ROLE_NAMES.get(language, ROLE_NAMES["en"]).get(role, role)


def as_html(text: str) -> str:
    """The text as a small HTML document: every value escaped, links made clickable."""
    paragraphs = []
    for block in text.split("\n\n"):
        lines = []
        for line in block.split("\n"):
            safe = escape(line)
            if line.startswith(("http://", "https://")) and " " not in line:
                safe = f'<a href="{safe}">{safe}</a>'
            lines.append(safe)
        paragraphs.append("<p>" + "<br>".join(lines) + "</p>")
    return "<!doctype html><html><body>" + "".join(paragraphs) + "</body></html>"
