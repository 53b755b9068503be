"""What the email channel writes to people, in English and French: the acknowledgement
of a new case, the notice that a sender sent too many emails, and an agent's reply.

Each function answers ``{language: (subject, body)}``; the subject carries the case
tag so that a reply lands in the same case."""

from __future__ import annotations

from postroom.core.cases.mail_model import threaded_subject

Texts = dict[str, tuple[str, str]]


def acknowledgement(case_number: str, subject: str, name: str) -> Texts:
    hello_en = f"Hello {name}," if name else "Hello,"
    hello_fr = f"Bonjour {name}," if name else "Bonjour,"
    return {
        "en": (
            threaded_subject(case_number, f"Re: {subject}" if subject else "Your message"),
            f"{hello_en}\n\nWe received your message and opened case {case_number}. "
            "Please quote this number in every follow-up: reply to this email, or keep "
            f"[{case_number}] in the subject.\n\n"
            "We answer within one to two business days.\n",
        ),
        "fr": (
            threaded_subject(case_number, f"Re: {subject}" if subject else "Votre message"),
            f"{hello_fr}\n\nNous avons reçu votre message et ouvert le dossier {case_number}. "
            "Merci de rappeler ce numéro dans chaque suivi : répondez à ce courriel, ou "
            f"gardez [{case_number}] dans l'objet.\n\n"
            "Nous répondons sous un à deux jours ouvrés.\n",
        ),
    }


def flood_notice(per_hour: int) -> Texts:
    return {
        "en": (
            "Too many messages: we keep the next ones for our team",
            f"We received more than {per_hour} emails from your address in the last hour. "
            "We keep the next ones without opening cases: our team reads them, nothing is "
            "lost. You will not receive this notice again for the next hour.\n",
        ),
        "fr": (
            "Trop de messages : les suivants sont conservés pour notre équipe",
            f"Nous avons reçu plus de {per_hour} courriels de votre adresse au cours de la "
            "dernière heure. Les suivants sont conservés sans ouvrir de dossier : notre "
            "équipe les lit, rien n'est perdu. Vous ne recevrez plus cet avis pendant "
            "l'heure qui vient.\n",
        ),
    }


def agent_reply(case_number: str, subject: str, body: str) -> Texts:
    return {
        "en": (
            threaded_subject(case_number, f"Re: {subject}"),
            f"{body.rstrip()}\n\n--\nCase {case_number}: reply to this email to add to it.\n",
        ),
        "fr": (
            threaded_subject(case_number, f"Re: {subject}"),
            f"{body.rstrip()}\n\n--\nDossier {case_number} : répondez à ce courriel pour "
            "le compléter.\n",
        ),
    }
