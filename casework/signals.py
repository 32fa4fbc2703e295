"""Hooks: role groups after every migrate/flush; global audit events for sign-ins and for
changes to the register (dsar), which cannot import casework itself."""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.dispatch import receiver

from casework import roles
from casework.portal.selectors import forget_controller_identity


@receiver(post_migrate)
def restore_roles(sender, app_config=None, using="default", apps=global_apps, **kwargs):
    # Runs after migrate and after a test flush, which empties the groups the migration made.
    if app_config is not None and app_config.label == "casework":
        roles.sync_roles(apps, using=using)


@receiver(user_logged_in)
def audit_sign_in(sender, request, user, **kwargs):
    from casework.actors import Actor
    from casework.audit import record_global_event

    with transaction.atomic():
        record_global_event("auth.signed_in", actor=Actor.staff(user))


@receiver(user_login_failed)
def audit_failed_sign_in(sender, credentials, request=None, **kwargs):
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


def _sign_out_on_group_change(sender, instance, action, pk_set=None, reverse=False, **kwargs):
    # A staff member whose groups changed signs in again, under the rights they have now.
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    from casework.sessions import end_sessions_of

    users = [instance.pk] if not reverse else list(pk_set or ())
    for user_id in users:
        end_sessions_of(user_id)


def _sign_out_on_second_factor_change(sender, instance, **kwargs):
    from casework.sessions import end_sessions_of

    if instance.user_id:
        end_sessions_of(instance.user_id)


m2m_changed.connect(_sign_out_on_group_change, sender=get_user_model().groups.through)
post_save.connect(_sign_out_on_second_factor_change, sender="otp_totp.TOTPDevice")
post_delete.connect(_sign_out_on_second_factor_change, sender="otp_totp.TOTPDevice")

# The portal keeps the controller's name for a minute; a change shows at once here.
post_save.connect(forget_controller_identity, sender="dsar.ControllerInfo")
post_delete.connect(forget_controller_identity, sender="dsar.ControllerInfo")
