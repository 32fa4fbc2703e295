"""Which cases a person may see, down to each case: one rule for the admin's lists and pages,
the dashboard's drill-downs, the staff API and the `case` command.

- Staff who read cases (privacy team, DPO, auditor) see every case that is not confidential.
- A confidential case is seen by the DPO (`view_confidential`), its assignee and the staff
  named on it; it still counts in the dashboard's totals, which never list cases.
- Intake clients (other systems filing requests through the API) see the cases they filed.
- Anyone else sees none.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from casework.models import Case

VIEW_CASE = "casework.view_case"
VIEW_CONFIDENTIAL = "casework.view_confidential"
FILE_CASE = "casework.file_case"


def confidential_visibility(user) -> Q:
    """Every case that is not confidential, and the confidential ones assigned to `user` or
    that name them. The cases that name them are looked up first (a short list), so that the
    lists filter on plain columns: an OR with a subquery per row kept PostgreSQL from using its
    indexes and made a filtered list of a million cases take seconds."""
    named = list(
        Case.confidential_staff.through.objects.filter(user_id=user.pk).values_list(
            "case_id", flat=True
        )
    )
    rule = Q(confidential=False) | Q(assignee_id=user.pk)
    return rule | Q(pk__in=named) if named else rule


def visible_cases(user, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """The cases `user` may see (of `queryset`, else of all)."""
    cases = Case.objects.all() if queryset is None else queryset
    if user is None or not user.is_active or not user.is_authenticated:
        return cases.none()
    if user.has_perm(VIEW_CASE):
        if user.has_perm(VIEW_CONFIDENTIAL):
            return cases
        return cases.filter(confidential_visibility(user))
    if user.has_perm(FILE_CASE):
        return cases.filter(entered_by_id=user.pk)
    return cases.none()


def may_see_case(user, case: Case) -> bool:
    """Whether `user` may see `case` (its page, its records' counts, its trail)."""
    return visible_cases(user, Case.objects.filter(pk=case.pk)).exists()


def of_visible_cases(user, queryset: QuerySet, *, via: str = "case") -> QuerySet:
    """The rows of `queryset` (runs, records, plans, notes, events, ...) whose case, reached
    through `via`, `user` may see. Rows of no case (an event about the register) pass when
    the user reads cases at all."""
    if user is not None and user.is_active and user.has_perm(VIEW_CONFIDENTIAL):
        return queryset
    visible = visible_cases(user).values("pk")
    rule = Q(**{f"{via}__in": visible})
    if user is not None and user.is_active and user.has_perm(VIEW_CASE):
        rule |= Q(**{f"{via}__isnull": True})
    return queryset.filter(rule)
