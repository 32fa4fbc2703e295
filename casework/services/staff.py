"""Staff and their roles. No one raises their own rights: a role that works cases (the privacy
team, the DPO) is given by two people (the one who asks, and an administrator or a DPO who
confirms), and every change of a staff member's groups, active flag or second factor goes on
the global audit chain, with who made it, and is e-mailed to the DPO."""

from __future__ import annotations

import logging

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from casework import roles
from casework.actors import Actor
from casework.audit import record_global_event
from casework.mail import send_email
from casework.models import RoleGrant
from casework.permissions import assignable_staff

logger = logging.getLogger(__name__)

# Roles that open case data: given only by two people.
CASE_ROLES = (roles.PRIVACY_TEAM, roles.DPO)
# Who may confirm such a role: an administrator (not the one who asked) or a DPO.
CONFIRMING_ROLES = (roles.ADMINISTRATOR, roles.DPO)


def request_role(*, user, role: str, actor: Actor) -> RoleGrant:
    """Ask for `user` to be given a role that works cases; nothing changes until confirmed."""
    if role not in CASE_ROLES:
        raise ValidationError(_("Only a role that works cases needs confirming."))
    if actor.user.pk == user.pk:
        raise PermissionDenied(_("No one changes their own roles."))
    with transaction.atomic():
        grant, _created = RoleGrant.objects.get_or_create(
            user=user,
            role=role,
            state=RoleGrant.State.PENDING,
            defaults={"requested_by": actor.user},
        )
        record_global_event(
            "staff.role_requested", actor=actor, details={"user": user.pk, "role": role}
        )
    return grant


def confirm_role(*, grant: RoleGrant, actor: Actor) -> RoleGrant:
    """A second person confirms: the role is given (and audited, and the DPO told)."""
    user = actor.user
    if not user.groups.filter(name__in=CONFIRMING_ROLES).exists():
        raise PermissionDenied(_("An administrator or a DPO confirms a role."))
    with transaction.atomic():
        locked = RoleGrant.objects.select_for_update().get(pk=grant.pk)
        if locked.state != RoleGrant.State.PENDING:
            raise ValidationError(_("This role was confirmed already."))
        if user.pk in (locked.requested_by_id, locked.user_id):
            raise PermissionDenied(
                _("A second person confirms: not the one who asked, nor the one it is for.")
            )
        locked.state = RoleGrant.State.CONFIRMED
        locked.confirmed_by = user
        locked.confirmed_at = timezone.now()
        locked.save(update_fields=["state", "confirmed_by", "confirmed_at"])
        locked.user.groups.add(Group.objects.get(name=locked.role))  # audited by the signal
    return locked


def record_staff_change(*, user_id: int, change: str, details: dict, actor: Actor) -> None:
    """One change of a staff member's rights on the global chain, and an e-mail to the DPO."""
    record_global_event(f"staff.{change}", actor=actor, details={"user": user_id, **details})
    transaction.on_commit(lambda: _tell_the_dpo(user_id, change, actor.label))


def _tell_the_dpo(user_id: int, change: str, by: str) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    dpos = list(
        assignable_staff()
        .filter(groups__name=roles.DPO)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if not dpos:
        return
    staff = get_user_model().objects.filter(pk=user_id).first()
    try:
        send_email(
            to=dpos,
            template="casework/email/staff_changed",
            context={
                "username": staff.get_username() if staff else str(user_id),
                "change": change,
                "by": by,
                "site_url": settings.SITE_URL,
            },
            language=settings.LANGUAGE_CODE,
        )
    except OSError:
        logger.warning("the DPO could not be told of a staff change (mail server)")
