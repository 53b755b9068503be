"""The reader's-language text of the support-cases area's error codes, for the console's
and the customer's pages (an unknown code shows the core's own message)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _

from postroom.core.errors import PostroomError


def messages() -> dict[str, Any]:
    return {
        "case_not_found": _("There is no such case."),
        "invalid_case_number": _("A case number looks like C-2026-000123."),
        "missing_subject": _("Give the subject."),
        "subject_too_long": _("A subject has at most 200 characters."),
        "missing_body": _("Write a message."),
        "body_too_long": _("A message has at most 20,000 characters."),
        "missing_description": _("Describe the problem."),
        "missing_reason": _("Give the reason."),
        "reason_too_long": _("A reason has at most 500 characters."),
        "control_character": _("Remove the control characters from this field."),
        "invalid_transition": _("The case cannot move to that status from where it is."),
        "case_closed": _("This case is closed: write to it to open a follow-up case."),
        "invalid_status": _("Choose a status."),
        "invalid_priority": _("Choose a priority."),
        "invalid_channel": _("Choose a channel."),
        "invalid_department": _("Choose a department."),
        "invalid_assignee": _("Choose a member of staff."),
        "assignee_not_case_worker": _("Choose an agent, a supervisor or an account manager."),
        "assignee_unavailable": _("That person is away: choose someone available."),
        "assignee_wrong_department": _("That person does not serve this case's department."),
        "invalid_link": _("Choose what the case is linked to."),
        "link_not_found": _("Nothing of that kind has this reference on the account."),
        "account_not_found": _("There is no customer account with this number."),
        "invalid_account_number": _("There is no customer account with this number."),
        "invalid_contact_email": _("Enter an email address."),
        "contact_name_too_long": _("A name has at most 200 characters."),
        "contact_phone_too_long": _("A phone number has at most 40 characters."),
        "contact_details_too_long": _("At most 500 characters."),
        "merge_same_case": _("A case cannot be merged into itself."),
        "already_merged": _("That case was merged already."),
        "escalated": _("The case is escalated already."),
        "invalid_period": _("The period ends after it starts, and covers at most a year."),
        "supervisors_only": _("Only supervisors may do this."),
        "merge_other_account": _("Cases of different customer accounts cannot be merged."),
        "not_customer": _("Only the customer writes as the customer."),
        "staff_only": _("Only staff may do this."),
        "meter_not_found": _("Choose one of your meters."),
        "invalid_tracking_number": _(
            "Enter the tracking number: 8 to 40 letters and digits, as on the receipt."
        ),
        "invalid_declared_value": _("Enter the parcel's value, more than zero."),
        "invalid_amount": _("Enter an amount such as 80.00."),
        "ambiguous_amount": _("Enter an amount such as 80.00."),
        "unknown_currency": _("Enter the amount in your account's currency."),
        "currency_mismatch": _("Enter the amount in your account's currency."),
        "invalid_time_zone": _("Enter an IANA time zone such as Europe/Paris."),
        "invalid_subdivision": _("Enter a state or province code of the account's country."),
        "staff_not_found": _("Choose a member of staff."),
        "attachment_empty": _("That file is empty."),
        "attachment_too_large": _("That file is too large."),
        "attachment_too_many": _("Too many files at once."),
        "attachment_type_refused": _(
            "Send PDF, PNG, JPEG, GIF, plain text or CSV files; that type is not accepted."
        ),
        "attachment_disguised": _("That file is not what its name says: it is refused."),
        "attachment_infected": _("The virus scanner refused that file."),
    }


def error_text(error: PostroomError) -> str:
    return str(messages().get(error.code, error.message))
