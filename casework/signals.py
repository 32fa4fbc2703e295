"""Hooks: role groups after every migrate/flush; global audit events for sign-ins and for
changes to the register (dsar), which cannot import casework itself."""

from __future__ import annotations

import logging

from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_save
from django.dispatch import receiver

from casework import roles, schedules
from casework.actors import Actor
from casework.portal.selectors import forget_controller_identity


@receiver(post_migrate)
def restore_roles(sender, app_config=None, using="default", apps=global_apps, **kwargs):
    # Runs after migrate and after a test flush, which empties the groups the migration made.
    if app_config is not None and app_config.label == "casework":
        roles.sync_roles(apps, using=using)
        # Beat's schedules too (created by a migration; a flush empties their table).
        try:
            apps.get_model("django_celery_beat", "PeriodicTask")
        except LookupError:
            return  # not migrated that far
        schedules.install_schedules(apps, using=using)


@receiver(user_logged_in)
def audit_sign_in(sender, request, user, **kwargs):
    from casework.actors import Actor
    from casework.audit import record_global_event

    with transaction.atomic():
        record_global_event("auth.signed_in", actor=Actor.staff(user))


@receiver(user_login_failed)
def audit_failed_sign_in(sender, credentials, request=None, **kwargs):
    from casework.signin import count_failure

    count_failure(credentials.get("username", ""), request)
    from casework.actors import Actor
    from casework.audit import record_global_event

    # The attempted username may be someone's e-mail: not recorded.
    with transaction.atomic():
        record_global_event("auth.sign_in_failed", actor=Actor.system())


def _register_change(sender, instance, action: str) -> None:
    from casework.actors import Actor
    from casework.audit import record_global_event
    from casework.middleware import current_user

    user = current_user.get()
    record_global_event(
        f"register.{sender._meta.model_name}.{action}",
        actor=Actor.staff(user) if user is not None else Actor.system(),
        details={"model": sender._meta.label, "pk": instance.pk},
    )


@receiver(post_save)
def audit_register_save(sender, instance, created, raw=False, **kwargs):
    if raw or sender._meta.app_label != "dsar":
        return
    _register_change(sender, instance, "created" if created else "changed")


@receiver(post_delete)
def audit_register_delete(sender, instance, **kwargs):
    if sender._meta.app_label != "dsar":
        return
    _register_change(sender, instance, "deleted")


def _acting() -> Actor:
    from casework.actors import Actor
    from casework.middleware import current_user

    user = current_user.get()
    return Actor.staff(user) if user is not None else Actor.system()


def _on_group_change(sender, instance, action, pk_set=None, reverse=False, model=None, **kwargs):
    """Every change of a staff member's groups goes on the global chain (the DPO is told),
    and the staff member signs in again, under the rights they have now."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from casework.services.staff import record_staff_change
    from casework.sessions import end_sessions_of

    users = [instance.pk] if not reverse else list(pk_set or ())
    if reverse:
        names = [instance.name]
    else:
        names = sorted(model.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True))
    change = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    for user_id in users:
        record_staff_change(
            user_id=user_id, change="groups_changed", details={change: names}, actor=_acting()
        )
        end_sessions_of(user_id)


def _on_permission_change(sender, instance, action, reverse=False, **kwargs):
    if action in ("post_add", "post_remove", "post_clear") and not reverse:
        from casework.services.staff import record_staff_change

        record_staff_change(
            user_id=instance.pk, change="permissions_changed", details={}, actor=_acting()
        )


def _remember_active(sender, instance, **kwargs):
    instance._was_active = (
        sender.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
        if instance.pk
        else None
    )


def _on_active_change(sender, instance, created, raw=False, **kwargs):
    was = getattr(instance, "_was_active", None)
    if raw or created or was is None or was == instance.is_active:
        return
    from casework.services.staff import record_staff_change

    change = "activated" if instance.is_active else "deactivated"
    record_staff_change(user_id=instance.pk, change=change, details={}, actor=_acting())


def _on_second_factor_change(sender, instance, created=None, **kwargs):
    from casework.services.staff import record_staff_change
    from casework.sessions import end_sessions_of

    if instance.user_id:
        change = "second_factor_removed" if created is None else "second_factor_changed"
        record_staff_change(user_id=instance.user_id, change=change, details={}, actor=_acting())
        end_sessions_of(instance.user_id)


_User = get_user_model()
m2m_changed.connect(_on_group_change, sender=_User.groups.through)
m2m_changed.connect(_on_permission_change, sender=_User.user_permissions.through)
pre_save.connect(_remember_active, sender=_User)
post_save.connect(_on_active_change, sender=_User)
post_save.connect(_on_second_factor_change, sender="otp_totp.TOTPDevice")
post_delete.connect(_on_second_factor_change, sender="otp_totp.TOTPDevice")

# The portal keeps the controller's name for a minute; a change shows at once here.
post_save.connect(forget_controller_identity, sender="dsar.ControllerInfo")
post_delete.connect(forget_controller_identity, sender="dsar.ControllerInfo")


# --- the Data Rights Protocol: agents are told when a request's status changes -----------------

DRP_STATUS_EVENTS = ("case.deadline_extended",)


@receiver(post_save, sender="casework.AuditEvent")
def drp_status_may_have_changed(sender, instance, created, raw=False, **kwargs):
    # Every transition of a case is audited here, in its transaction: once it commits, a DRP
    # case whose status the agent was last told differs gets a callback (casework.services.drp).
    if raw or not created or not instance.case_id:
        return
    if not (instance.to_state or instance.action in DRP_STATUS_EVENTS):
        return
    from casework.models import DrpRequest

    if not DrpRequest.objects.filter(case_id=instance.case_id).exists():
        return
    case_id = instance.case_id
    transaction.on_commit(lambda: _drp_status_changed(case_id))


def _drp_status_changed(case_id: int) -> None:
    from casework.services.drp import drp_status_changed

    try:
        drp_status_changed(case_id)
    except Exception as exc:  # the change itself is committed; the agent can still poll
        logging.getLogger(__name__).warning(
            "DRP status callback for case %s not queued: %s", case_id, type(exc).__name__
        )
