"""The tamper-evident audit trail.

Every event belongs to a chain (one per case, one global) and stores the SHA-256 of its own
content chained to the previous event. Each append also writes an HMAC checkpoint
(DSAR_AUDIT_KEY) into a single global line of checkpoints and onto the chain's head row, so
that altered, deleted, truncated or rolled-back history is detected by `verify_trail`.
Events hold no raw personal data: free text lives in CaseNote and is referenced by id and hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from casework.actors import Actor
from casework.models import AuditAnchor, AuditChain, AuditCheckpoint, AuditEvent, Case


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent, chain_key: str) -> str:
    content = {
        "chain": chain_key,
        "seq": event.seq,
        "prev": event.prev_hash,
        "case": event.case_id,
        "at": event.created_at.isoformat(),
        "action": event.action,
        "actor_kind": event.actor_kind,
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "from": event.from_state,
        "to": event.to_state,
        "details": event.details,
    }
    return hashlib.sha256(_canonical(content)).hexdigest()


def checkpoint_mac(
    *, seq: int, chain_key: str, head_seq: int, head_hash: str, prev_mac: str
) -> str:
    message = f"{seq}|{chain_key}|{head_seq}|{head_hash}|{prev_mac}".encode()
    return hmac.new(settings.DSAR_AUDIT_KEY, message, hashlib.sha256).hexdigest()


def _locked_chain(key: str, case: Case | None = None) -> AuditChain:
    """The head of the chain `key`, locked (created on its first event)."""
    head = AuditChain.objects.select_for_update().filter(key=key).first()
    if head is None:
        created, _ = AuditChain.objects.get_or_create(key=key, defaults={"case": case})
        head = AuditChain.objects.select_for_update().get(pk=created.pk)
    return head


# Action names events were stored under before every name was put in the past tense. Stored
# events are hashed and never rewritten: whatever reads events by action accepts both.
RENAMED_ACTIONS = {
    "case.verify": "case.verified",
    "case.ask_subject": "case.subject_asked",
    "case.expire": "case.expired",
    "case.start_gathering": "case.gathering_started",
    "case.proceed_without_source": "case.sources_skipped",
    "case.approve": "case.approved",
    "case.reject": "case.rejected",
    "case.withdraw": "case.withdrawn",
    "case.merge": "case.merged",
    "case.possible_duplicate": "case.duplicate_flagged",
}


def action_names(action: str) -> tuple[str, ...]:
    """`action` and the older names of it, for a filter on stored events."""
    return (action, *(old for old, new in RENAMED_ACTIONS.items() if new == action))


def current_action(action: str) -> str:
    """The name an event's action has now (an old event may carry an older one)."""
    return RENAMED_ACTIONS.get(action, action)


# Where the changes of the current block came from (the command line, and the operating-system
# user there): added to the details of every event recorded in it (`origin`).
_ORIGIN: ContextVar[dict[str, Any] | None] = ContextVar("audit_origin", default=None)


@contextmanager
def origin(**details: Any) -> Iterator[None]:
    """Every event recorded in the block says where it came from, e.g.
    `with origin(entered_via="command_line", os_user=getpass.getuser()):`."""
    token = _ORIGIN.set({**(_ORIGIN.get() or {}), **details})
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def current_origin() -> dict[str, Any]:
    return dict(_ORIGIN.get() or {})


@transaction.atomic(savepoint=False)  # a part of its caller's transaction, or its own
def _append(
    chain_key: str,
    *,
    case: Case | None,
    action: str,
    actor: Actor,
    from_state: str = "",
    to_state: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    # Lock order is fixed (anchor, then chain head) so two appends never deadlock.
    anchor = AuditAnchor.objects.select_for_update().filter(pk=1).first()
    if anchor is None:  # the first event ever (or after a test flush)
        anchor, _ = AuditAnchor.objects.select_for_update().get_or_create(pk=1)
    head = _locked_chain(chain_key, case)
    event = AuditEvent(
        chain=head,
        seq=head.head_seq + 1,
        case=case,
        created_at=timezone.now(),
        action=action,
        actor_kind=actor.kind,
        actor=actor.user if actor.kind == Actor.STAFF else None,
        actor_label=actor.label,
        from_state=from_state or "",
        to_state=to_state or "",
        details={**(_ORIGIN.get() or {}), **(details or {})},
        prev_hash=head.head_hash,
    )
    event.hash = event_hash(event, head.key)
    event.save()

    cp_seq = anchor.seq + 1
    mac = checkpoint_mac(
        seq=cp_seq,
        chain_key=head.key,
        head_seq=event.seq,
        head_hash=event.hash,
        prev_mac=anchor.mac,
    )
    AuditCheckpoint(
        seq=cp_seq,
        chain=head,
        chain_key=head.key,
        head_seq=event.seq,
        head_hash=event.hash,
        prev_mac=anchor.mac,
        mac=mac,
    ).save()
    AuditChain.objects.filter(pk=head.pk).update(
        head_seq=event.seq, head_hash=event.hash, checkpoint=mac, checkpoint_seq=cp_seq
    )
    AuditAnchor.objects.filter(pk=anchor.pk).update(seq=cp_seq, mac=mac)
    return event


def take_case(case_id: int) -> None:
    """Lock the case row (SELECT ... FOR UPDATE) at the start of a transaction that will
    change its work rows and record an event. Every such transaction takes the case first,
    then its work rows (plans, actions, runs, bundles), then the trail: the trail's anchor is
    one row for all cases, and an event's reference to its case is checked at commit (a key
    share of the case row), so one that took the anchor first could wait at its commit for a
    transaction that holds the case and waits for the anchor."""
    Case.objects.select_for_update().filter(pk=case_id).values_list("pk", flat=True).first()


def record_event(
    case: Case,
    action: str,
    *,
    actor: Actor,
    from_state: str = "",
    to_state: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the case's chain, inside the caller's transaction."""
    return _append(
        f"case:{case.pk}",
        case=case,
        action=action,
        actor=actor,
        from_state=from_state,
        to_state=to_state,
        details=details,
    )


def record_global_event(
    action: str, *, actor: Actor, details: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event that concerns no single case (sign-ins, register changes)."""
    return _append(AuditChain.GLOBAL_KEY, case=None, action=action, actor=actor, details=details)


# --- verification ------------------------------------------------------------------------------


@dataclass
class Break:
    chain: str
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.chain} event #{self.seq}" if self.seq is not None else self.chain
        return f"{where}: {self.problem}"


def _events(chain: AuditChain) -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)


def verify_trail() -> list[Break]:
    """Check every chain and the line of checkpoints. Returns the breaks found, first first."""
    breaks: list[Break] = []

    # 1. The checkpoints: a contiguous line, each MAC valid and chained to the one before.
    newest: dict[int, AuditCheckpoint] = {}
    prev_mac, expected_seq = "", 1
    for cp in AuditCheckpoint.objects.order_by("seq").iterator(chunk_size=2000):
        if cp.seq != expected_seq:
            breaks.append(Break("checkpoints", cp.seq, f"checkpoint #{expected_seq} is missing"))
        good = checkpoint_mac(
            seq=cp.seq,
            chain_key=cp.chain_key,
            head_seq=cp.head_seq,
            head_hash=cp.head_hash,
            prev_mac=cp.prev_mac,
        )
        if not hmac.compare_digest(good, cp.mac):
            breaks.append(Break("checkpoints", cp.seq, "checkpoint MAC does not verify"))
        elif cp.prev_mac != prev_mac:
            breaks.append(Break("checkpoints", cp.seq, "checkpoint does not follow the one before"))
        prev_mac, expected_seq = cp.mac, cp.seq + 1
        newest[cp.chain_id] = cp
    anchor = AuditAnchor.objects.filter(pk=1).first()
    if anchor and (anchor.seq != expected_seq - 1 or anchor.mac != prev_mac):
        breaks.append(Break("checkpoints", anchor.seq, "newest checkpoints were removed"))

    # 2. Every chain: contiguous events, each hash right and linked, matching its checkpoint.
    chains = {c.pk: c for c in AuditChain.objects.all()}
    for chain_id in sorted(set(chains) | set(newest)):
        chain = chains.get(chain_id)
        cp = newest.get(chain_id)
        if chain is None:
            breaks.append(Break(cp.chain_key, None, "the whole chain was deleted"))
            continue
        last_seq, last_hash = 0, ""
        for event in _events(chain):
            if event.seq != last_seq + 1:
                breaks.append(Break(chain.key, last_seq + 1, "event is missing"))
            if event.prev_hash != last_hash and event.seq == last_seq + 1:
                breaks.append(Break(chain.key, event.seq, "event does not follow the one before"))
            if event_hash(event, chain.key) != event.hash:
                breaks.append(Break(chain.key, event.seq, "event was altered"))
            last_seq, last_hash = event.seq, event.hash
        if cp is None:
            if last_seq:
                breaks.append(Break(chain.key, 1, "events have no checkpoint"))
            continue
        if (cp.head_seq, cp.head_hash) != (last_seq, last_hash):
            if last_seq < cp.head_seq:
                problem = "events were cut off the end of the chain"
                if last_seq == 0:
                    problem = "the whole chain was deleted"
                breaks.append(Break(chain.key, last_seq + 1, problem))
            else:
                breaks.append(Break(chain.key, cp.head_seq, "chain does not match its checkpoint"))
        if (chain.head_seq, chain.head_hash, chain.checkpoint) != (
            cp.head_seq,
            cp.head_hash,
            cp.mac,
        ):
            breaks.append(Break(chain.key, None, "head row was rolled back or altered"))

    # 3. Every case has a chain with at least its creation event.
    chained_cases = {c.case_id for c in chains.values() if c.case_id}
    for case_id, reference in Case.objects.values_list("pk", "reference").iterator():
        if case_id not in chained_cases:
            breaks.append(Break(f"case:{case_id}", None, f"{reference} has no audit chain"))
    return breaks
