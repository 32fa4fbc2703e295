"""Who may do what to a case: the transitions' guards and permissions, the permission checks of
the other operations, and who may be assigned a case. Services enforce these; the admin, the
command line and the API ask the same functions before they offer an operation."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed

from casework import roles
from casework.actors import Actor
from casework.models import Case

# The roles that work cases: the only people a case can be assigned to.
ASSIGNABLE_ROLES = (roles.PRIVACY_TEAM, roles.DPO)


def transition_meta(case: Case, name: str):
    """The django-fsm Transition for `name` from the case's current state, or None."""
    method = getattr(case, name, None)
    meta = getattr(method, "_django_fsm", None)
    if meta is None:
        raise ValueError(f"{name!r} is not a case transition")
    return meta.get_transition(case.state)


def check_transition(case: Case, name: str, actor: Actor) -> None:
    """Raise unless `actor` may run transition `name` on `case` now."""
    t = transition_meta(case, name)
    if t is None:
        raise TransitionNotAllowed(
            _("“%(action)s” is not possible while the case is %(state)s.")
            % {"action": name, "state": case.get_state_display()}
        )
    if actor.kind == Actor.SUBJECT:
        if not t.custom.get("subject"):
            raise PermissionDenied(_("The subject cannot do this."))
    elif not actor.may_run(t, case):
        if t.custom.get("denied") and actor.has_perm(t.custom["perm"]):
            raise PermissionDenied(t.custom["denied"])
        raise PermissionDenied(_("You are not allowed to do this: %(action)s.") % {"action": name})
    failed = [c for c in t.conditions if not c(case)]
    if failed:
        reasons = "; ".join(str(getattr(c, "explanation", c.__name__)) for c in failed)
        raise TransitionNotAllowed(
            _("“%(action)s” is not possible yet: %(reasons)s.")
            % {"action": name, "reasons": reasons}
        )


def require_perm(actor: Actor, perm: str) -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(_("You are not allowed to do this."))


def assignable_staff() -> QuerySet:
    """Active staff a case can be assigned to (and who are reminded of unassigned cases)."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=ASSIGNABLE_ROLES)
        .distinct()
        .order_by("username")
    )


def check_assignee(user) -> None:
    """Raise unless a case may be assigned to `user` (None: unassigned, always allowed)."""
    if user is not None and not user.groups.filter(name__in=ASSIGNABLE_ROLES).exists():
        raise ValidationError(
            {"assignee": _("Cases can be assigned to the privacy team or the DPO only.")}
        )


def staff_user(username: str):
    """The active staff member called `username`, for commands that act on someone's behalf."""
    User = get_user_model()
    try:
        return User.objects.get(username=username, is_active=True, is_staff=True)
    except User.DoesNotExist:
        raise ValidationError(_("No active staff member “%(u)s”.") % {"u": username}) from None
