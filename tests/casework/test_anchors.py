"""The audit anchor leaves the database: exported anchors catch the tail of the trail cut off
together with its checkpoints and the anchor row rolled back, which the database alone cannot."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from casework import anchors, services
from casework.actors import Actor
from casework.audit import verify_trail
from casework.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent
from tests.casework.test_audit import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def sink(tmp_path, settings):
    settings.DSAR_AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    return anchors.FileSink()


def test_the_anchor_is_appended_once_per_change(sink, make_case, alice):
    case = make_case()
    first = anchors.export_anchor(sink)
    assert first["seq"] == AuditAnchor.objects.get().seq and first["exported_at"]
    assert anchors.export_anchor(sink) is None  # nothing recorded since
    services.case_verify(case=case, actor=Actor.staff(alice), note="Call-back on record")
    second = anchors.export_anchor(sink)
    assert second["seq"] > first["seq"]
    assert [a["seq"] for a in sink.read()] == [first["seq"], second["seq"]]


def test_a_tail_cut_off_with_the_anchor_rolled_back_is_caught_by_the_exported_anchor(
    sink, make_case, alice, tmp_path
):
    case = make_case()
    services.case_verify(case=case, actor=Actor.staff(alice), note="Call-back on record")
    anchors.export_anchor(sink)
    # The attacker deletes the newest event and its checkpoint, and rolls the head and the
    # anchor back to the checkpoint before: the database agrees with itself again.
    chain = AuditChain.objects.get(case=case)
    last = AuditEvent.objects.filter(chain=chain).latest("seq")
    newest = AuditCheckpoint.objects.latest("seq")
    older = AuditCheckpoint.objects.filter(chain=chain, head_seq=last.seq - 1).get()
    tamper("DELETE FROM casework_auditevent WHERE id = %s", (last.pk,))
    tamper("DELETE FROM casework_auditcheckpoint WHERE seq >= %s", (newest.seq,))
    AuditChain.objects.filter(pk=chain.pk).update(
        head_seq=older.head_seq,
        head_hash=older.head_hash,
        checkpoint=older.mac,
        checkpoint_seq=older.seq,
    )
    previous = AuditCheckpoint.objects.latest("seq")
    AuditAnchor.objects.filter(pk=1).update(seq=previous.seq, mac=previous.mac)
    assert verify_trail() == []  # the database alone cannot tell
    err = StringIO()
    with pytest.raises(SystemExit) as exit_code:
        call_command(
            "verify_audit_trail", "--anchors", str(sink.path), stdout=StringIO(), stderr=err
        )
    assert exit_code.value.code == 1
    assert "checkpoints were cut off" in err.getvalue()


def test_an_intact_trail_agrees_with_its_exported_anchors(sink, make_case):
    make_case()
    anchors.export_anchor(sink)
    out = StringIO()
    call_command("verify_audit_trail", "--anchors", str(sink.path), stdout=out, stderr=StringIO())
    assert out.getvalue().startswith("OK:")


def test_the_beat_exports_the_anchor_on_the_sweepers_queue(settings, db):
    from django_celery_beat.models import PeriodicTask

    entry = PeriodicTask.objects.select_related("interval").get(name="export-audit-anchor")
    assert entry.task == "casework.tasks.export_audit_anchor"
    assert entry.interval.every == settings.DSAR_AUDIT_ANCHOR_SECONDS == 300
    assert entry.interval.period == "seconds"
    assert entry.queue == settings.DSAR_SWEEP_QUEUE
