"""Reads of recipients (§4 of the statement): those the subject's data was actually disclosed
to, and what each was told of a change (Art. 19)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from casework.deadlines import local_date
from casework.models import Case, ConnectorRun, FulfilmentPlan, RecipientNotice
from casework.selectors.identity import held_keys
from casework.selectors.optouts import case_disclosure_stopped
from dsar.models import Recipient, RecipientKind


def systems_with_records(case: Case) -> set[int]:
    """The systems where the subject's records were found: a search that found records,
    unless every subject record it found is held back (found only through what the requester
    typed, or left out by staff: not known to be the subject's)."""
    held = None
    found: set[int] = set()
    runs = ConnectorRun.objects.filter(
        case=case, state=ConnectorRun.State.SUCCEEDED, records_count__gt=0
    ).values_list("system_id", "subject_keys")
    for system_id, subject_keys in runs:
        if system_id in found:
            continue
        if subject_keys:
            if held is None:
                held = held_keys(case)
            if all((system_id, str(key)) in held for key in subject_keys):
                continue
        found.add(system_id)
    return found


def recipients_disclosed_to(case: Case) -> QuerySet[Recipient]:
    """The recipients the subject's data was disclosed to: those of the register's systems
    (`SourceSystem.disclosed_to`) where their records were found."""
    return (
        Recipient.objects.filter(systems__in=systems_with_records(case)).distinct().order_by("code")
    )


# The kinds of recipient an opt-out of disclosure ("sale") stops: a processor acts on our
# behalf, and an authority receives what the law obliges us to give, whatever the subject asked.
STOPPED_BY_OPT_OUT = (RecipientKind.THIRD_PARTY,)


def stopped_by_opt_out(recipient: Recipient) -> bool:
    """Whether an opt-out of disclosure stops what goes to `recipient`."""
    return recipient.kind in STOPPED_BY_OPT_OUT


def recipients_blocked_for(case: Case) -> QuerySet[Recipient]:
    """Of the recipients the case's subject's data was disclosed to, those that may no longer
    receive it: the third parties while the subject's opt-out of disclosure ("sale") is in
    force (`casework.selectors.optouts`), none otherwise. A processor acts on our behalf and an
    authority receives what the law obliges us to give: the opt-out does not stop either, and
    the subject is never told it did."""
    if not case_disclosure_stopped(case):
        return Recipient.objects.none()
    return recipients_disclosed_to(case).filter(kind__in=STOPPED_BY_OPT_OUT)


def recipient_notices(case: Case) -> QuerySet[RecipientNotice]:
    """The Art. 19 notices of the case's newest approved plan that has any."""
    plan = (
        FulfilmentPlan.objects.filter(case=case, recipient_notices__isnull=False)
        .order_by("-number")
        .first()
    )
    if plan is None:
        return RecipientNotice.objects.none()
    return plan.recipient_notices.select_related("recipient", "recorded_by").order_by(
        "recipient__code"
    )


def recipient_notices_pending(case: Case) -> QuerySet[RecipientNotice]:
    return RecipientNotice.objects.filter(
        case=case,
        outcome=RecipientNotice.Outcome.PENDING,
        plan__state=FulfilmentPlan.State.APPROVED,
    )


def recipients_told(case: Case) -> list[tuple[str, str]]:
    """For the subject, in the active language: (recipient, what we did) for every recipient
    their data was disclosed to and that the change was to be told to."""
    language = translation.get_language() or case.language
    rows = []
    stopped = case_disclosure_stopped(case)
    for notice in recipient_notices(case):
        name = notice.recipient.text("name", language)
        if notice.outcome == RecipientNotice.Outcome.SENT:
            told = _("We told them of the change on %(date)s.") % {
                "date": date_format(local_date(notice.recorded_at), "j F Y")
            }
        elif notice.outcome == RecipientNotice.Outcome.IMPOSSIBLE:
            told = _("We could not tell them: %(reason)s") % {"reason": notice.reason}
        elif notice.outcome == RecipientNotice.Outcome.DISPROPORTIONATE:
            told = _(
                "We have not told them, as it would involve disproportionate effort: %(reason)s"
            ) % {"reason": notice.reason}
        else:
            told = _("We are telling them of the change.")
        if stopped and stopped_by_opt_out(notice.recipient):
            told = "{} {}".format(
                told, _("Your data is no longer disclosed to them, as you asked.")
            )
        rows.append((name, told))
    return rows
