"""The audit trail: append-only, chained, checkpointed, and tampering is detected."""

from __future__ import annotations

import itertools
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from casework import services
from casework.actors import Actor
from casework.audit import record_global_event, verify_trail
from casework.models import AuditChain, AuditCheckpoint, AuditEvent, Case
from tests.casework.helpers import bring_to

pytestmark = pytest.mark.django_db

AUDIT_TABLES = ("casework_auditevent", "casework_auditcheckpoint")


def tamper(sql: str, params: tuple = ()) -> None:
    """Change the audit tables behind the ORM's back (the PostgreSQL trigger disabled)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks must run first, or ALTER TABLE refuses.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def run_verify() -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit_trail", stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.fixture
def worked_case(make_case, alice, dora):
    case = bring_to("in_review", make_case(), alice)
    services.case_add_note(case=case, actor=Actor.staff(alice), text="Checked the CRM")
    services.case_reject(case=case, actor=Actor.staff(dora), reason="Duplicate")
    make_case(email="second@demo.example")
    record_global_event("auth.signed_in", actor=Actor.staff(alice))
    return case


def test_every_transition_writes_one_chained_event(worked_case):
    events = list(AuditEvent.objects.filter(case=worked_case).order_by("seq"))
    assert [e.action for e in events] == [
        "case.created",
        "case.verified",
        "case.gathering_started",
        "case.gathered",
        "case.note_added",
        "case.rejected",
    ]
    assert [e.seq for e in events] == list(range(1, 7))
    assert events[0].prev_hash == ""
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash


def test_an_intact_trail_verifies(worked_case):
    assert verify_trail() == []
    code, out, _ = run_verify()
    assert code == 0
    assert "intact" in out


def test_the_orm_refuses_to_change_or_delete_events(worked_case):
    event = AuditEvent.objects.first()
    event.action = "case.nothing"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditCheckpoint.objects.all().delete()


def test_postgresql_refuses_update_and_delete_on_the_audit_tables(worked_case, require_postgres):
    for sql in (
        "UPDATE casework_auditevent SET action = 'x'",
        "DELETE FROM casework_auditevent",
        "UPDATE casework_auditcheckpoint SET mac = 'x'",
        "DELETE FROM casework_auditcheckpoint",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert verify_trail() == []


def test_an_altered_event_is_named(worked_case):
    target = AuditEvent.objects.get(case=worked_case, seq=3)
    tamper("UPDATE casework_auditevent SET to_state = %s WHERE id = %s", ("completed", target.pk))
    code, _, err = run_verify()
    assert code == 1
    assert f"case:{worked_case.pk} event #3" in err
    assert "altered" in err


def test_an_altered_detail_is_detected(worked_case):
    target = AuditEvent.objects.get(case=worked_case, action="case.rejected")
    tamper(
        "UPDATE casework_auditevent SET details = %s WHERE id = %s",
        ('{"unfounded": true}', target.pk),
    )
    breaks = verify_trail()
    assert breaks and breaks[0].seq == target.seq


def test_an_event_deleted_in_the_middle_is_detected(worked_case):
    target = AuditEvent.objects.get(case=worked_case, seq=2)
    tamper("DELETE FROM casework_auditevent WHERE id = %s", (target.pk,))
    code, _, err = run_verify()
    assert code == 1
    assert f"case:{worked_case.pk} event #2" in err
    assert "missing" in err


def test_the_last_event_deleted_is_detected(worked_case):
    last = AuditEvent.objects.filter(case=worked_case).order_by("-seq").first()
    tamper("DELETE FROM casework_auditevent WHERE id = %s", (last.pk,))
    code, _, err = run_verify()
    assert code == 1
    assert f"event #{last.seq}" in err
    assert "cut off the end" in err


def test_the_last_event_deleted_and_the_head_rolled_back_is_detected(worked_case):
    chain = AuditChain.objects.get(case=worked_case)
    events = list(AuditEvent.objects.filter(chain=chain).order_by("seq"))
    older_checkpoint = AuditCheckpoint.objects.filter(chain=chain, head_seq=events[-2].seq).get()
    tamper("DELETE FROM casework_auditevent WHERE id = %s", (events[-1].pk,))
    AuditChain.objects.filter(pk=chain.pk).update(
        head_seq=events[-2].seq,
        head_hash=events[-2].hash,
        checkpoint=older_checkpoint.mac,
        checkpoint_seq=older_checkpoint.seq,
    )
    breaks = verify_trail()
    assert breaks
    assert "cut off the end" in str(breaks[0])


def test_a_whole_case_chain_deleted_is_detected(worked_case):
    tamper("DELETE FROM casework_auditevent WHERE case_id = %s", (worked_case.pk,))
    code, _, err = run_verify()
    assert code == 1
    assert f"case:{worked_case.pk}" in err
    assert "whole chain was deleted" in err


def test_a_whole_chain_with_its_head_row_deleted_is_detected(worked_case):
    chain = AuditChain.objects.get(case=worked_case)
    tamper("DELETE FROM casework_auditevent WHERE chain_id = %s", (chain.pk,))
    tamper("DELETE FROM casework_auditcheckpoint WHERE chain_id = %s", (chain.pk,))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM casework_auditchain WHERE id = %s", (chain.pk,))
    breaks = verify_trail()
    assert breaks
    assert any("missing" in str(b) or "no audit chain" in str(b) for b in breaks)


def test_a_forged_checkpoint_does_not_verify(worked_case):
    last = AuditCheckpoint.objects.order_by("-seq").first()
    tamper("UPDATE casework_auditcheckpoint SET head_seq = head_seq + 1 WHERE id = %s", (last.pk,))
    breaks = verify_trail()
    assert breaks and "MAC" in str(breaks[0])


def test_the_newest_checkpoints_cut_off_are_detected(worked_case):
    last = AuditCheckpoint.objects.order_by("-seq").first()
    tamper("DELETE FROM casework_auditcheckpoint WHERE id = %s", (last.pk,))
    assert verify_trail()


def test_a_checkpoint_made_with_another_key_does_not_verify(worked_case, settings):
    settings.DSAR_AUDIT_KEY = b"\x01" * 32
    breaks = verify_trail()
    assert breaks and "MAC" in str(breaks[0])


def test_global_events_form_their_own_chain(alice):
    # Making Alice a privacy-team member is a global event already.
    start = AuditEvent.objects.filter(chain__key="global").count()
    record_global_event("auth.signed_in", actor=Actor.staff(alice))
    record_global_event("register.datacategory.changed", actor=Actor.system(), details={"pk": 1})
    chain = AuditChain.objects.get(key="global")
    assert chain.head_seq == start + 2
    assert list(chain.events.values_list("case", flat=True)) == [None] * (start + 2)
    assert verify_trail() == []


def test_signing_in_to_the_admin_is_audited(client, alice):
    client.post("/admin/login/", {"username": "alice", "password": "correct horse battery staple"})
    assert AuditEvent.objects.filter(action="auth.signed_in", actor=alice).exists()
    client.post("/admin/login/", {"username": "alice@x.example", "password": "wrong"})
    failed = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert "alice@x.example" not in str(failed.details)


def test_changes_to_the_register_go_on_the_global_chain_with_who_made_them(client, adam):
    from dsar.models import LegalBasis

    basis = LegalBasis.objects.create(
        code="consent", article="Art. 6(1)(a)", name_en="Consent", name_sq="Pëlqimi"
    )
    created = AuditEvent.objects.filter(action="register.legalbasis.created").get()
    assert created.actor_kind == "system" and created.case is None
    assert created.details == {"model": "dsar.LegalBasis", "pk": basis.pk}

    client.force_login(adam)  # the administrator edits the register in the admin
    response = client.post(
        f"/admin/dsar/legalbasis/{basis.pk}/change/",
        {
            "code": "consent",
            "article": "Art. 6(1)(a)",
            "name_en": "Consent given",
            "name_sq": "Pëlqimi",
            "description_en": "",
            "description_sq": "",
        },
    )
    assert response.status_code == 302
    changed = AuditEvent.objects.filter(action="register.legalbasis.changed").get()
    assert (changed.actor_kind, changed.actor) == ("staff", adam)
    assert verify_trail() == []


def test_every_transition_writes_an_event_named_in_the_past_tense():
    import re

    from casework import audit

    for name in ("verify", "ask_subject", "answered", "expire", "start_gathering", "gathered"):
        _check_event_name(getattr(Case, name), audit, re)
    for name in ("proceed_without_source", "approve", "fulfilled", "reject", "withdraw", "merge"):
        _check_event_name(getattr(Case, name), audit, re)


def _check_event_name(method, audit, re) -> None:
    for transition in method._django_fsm.transitions.values():
        event = transition.custom["event"]
        assert event.startswith("case.") and re.search(r"(ed|en|wn)$", event), event
        assert event not in audit.RENAMED_ACTIONS


def test_readers_of_stored_events_accept_the_old_names():
    from casework import audit

    assert set(audit.action_names("case.verified")) == {"case.verified", "case.verify"}
    assert audit.current_action("case.reject") == "case.rejected"
    assert audit.current_action("case.created") == "case.created"
