"""`manage.py case REFERENCE [OPERATION] --staff USERNAME ...`: show a case, or run one of the
operations of casework.operations on it as a staff member, through the same form, service and
permission checks as the admin. Events it writes say they came from the command line, and from
which operating-system user."""

from __future__ import annotations

import getpass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from casework import audit, deadlines, operations, selectors, services
from casework.actors import Actor
from casework.models import Bundle, Case, CaseIdentifier, ConnectorRun
from casework.permissions import staff_user
from casework.selectors.access import may_see_case
from casework.selectors.optouts import case_disclosure_stopped
from casework.selectors.processors import case_instructions
from casework.selectors.recipients import recipient_notices, stopped_by_opt_out

# The fields that have options of their own; the others are given as --field NAME=VALUE.
OWN_OPTIONS = ("reason", "note", "date", "into")
FLAG_ANSWERS = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False}
FLAG_ANSWERS.update({"off": False, "0": False})


class Command(BaseCommand):
    help = (
        "Show a case (state, due date, identifiers, sources, review, bundle, the operations "
        "offered now), or run an operation on it as a staff member: "
        + ", ".join(op.name for op in operations.OPERATIONS)
        + ". Refusals print the reason and exit 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("reference", help="the case's reference, e.g. DSAR-2026-000042")
        parser.add_argument("operation", nargs="?", help="the operation to run; none: show")
        parser.add_argument("--staff", help="the staff member who runs it (required to run)")
        parser.add_argument("--reason", help="the reason (told to the subject where it says so)")
        parser.add_argument("--note", help="the note or message the operation takes")
        parser.add_argument("--date", help="a date, YYYY-MM-DD (extend: the new due date)")
        parser.add_argument("--into", help="merge: the reference of the case to merge into")
        parser.add_argument(
            "--dossier",
            metavar="PATH",
            help="write the case's dossier (PDF: timeline, audit trail, letters, deadline, "
            "decisions, plans) to PATH; with --staff, as that member (who must see the case)",
        )
        parser.add_argument(
            "--field",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="any other field of the operation (ask_subject: purpose=identity; reject: "
            "unfounded=yes; assign: assignee=USERNAME)",
        )

    def handle(self, *args, **options):
        case = Case.objects.filter(reference__iexact=options["reference"].strip()).first()
        if case is None:
            raise CommandError(f"No case has the reference {options['reference']!r}.")
        actor = None
        if options["staff"]:
            try:
                actor = Actor.staff(staff_user(options["staff"]))
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            if not may_see_case(actor.user, case):  # a confidential case is not revealed
                raise CommandError(f"No case has the reference {options['reference']!r}.")
        if options["dossier"]:
            if options["operation"]:
                raise CommandError("--dossier writes the dossier; run an operation on its own.")
            self.write_dossier(case, actor or Actor.system(), options["dossier"])
            return
        if not options["operation"]:
            self.show(case, actor)
            return
        if actor is None:
            raise CommandError("Say who runs it: --staff USERNAME.")
        try:
            op = operations.get(options["operation"])
        except KeyError as exc:
            raise CommandError(exc.args[0]) from None
        values = self.values(op, options)
        form = operations.OperationForm(values, operation=op, case=case)
        if not form.is_valid():
            raise CommandError(_form_errors(form))
        with audit.origin(entered_via="command_line", os_user=getpass.getuser()):
            try:
                result = op.run(case=case, actor=actor, values=form.cleaned_data)
            except operations.REFUSALS as exc:
                if isinstance(exc, ValidationError):
                    form.add_service_errors(exc)
                    raise CommandError(_form_errors(form)) from None
                raise CommandError(operations.refusal_text(exc)) from None
        case.refresh_from_db()
        done = op.done(result) + " " if op.done is not None else ""
        self.stdout.write(f"{done}{case.reference}: {case.get_state_display()} ({case.state})")

    def write_dossier(self, case: Case, actor: Actor, path: str) -> None:
        with audit.origin(entered_via="command_line", os_user=getpass.getuser()):
            try:
                pdf = services.export_dossier(case=case, actor=actor)
            except PermissionDenied as exc:
                raise CommandError(operations.refusal_text(exc)) from None
        Path(path).write_bytes(pdf)
        self.stdout.write(f"{case.reference}: dossier written to {path} ({len(pdf)} bytes)")

    def values(self, op: operations.Operation, options: dict) -> dict[str, str]:
        """The operation's fields from the options; an option it does not take is refused."""
        declared = {f.name for f in op.fields}
        values: dict[str, str] = {}
        for name in OWN_OPTIONS:
            if options[name] is not None:
                values[name] = options[name]
        for item in options["field"]:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise CommandError(f"--field takes NAME=VALUE, not {item!r}.")
            values[name.strip()] = value
        for f in op.fields:
            if f.kind == "flag" and f.name in values:
                # yes/no on the command line; a form's checkbox is on, or absent.
                answer = values[f.name].strip().lower()
                if answer not in FLAG_ANSWERS:
                    raise CommandError(f"--field {f.name}= takes yes or no, not {answer!r}.")
                if FLAG_ANSWERS[answer]:
                    values[f.name] = "on"
                else:
                    del values[f.name]
        unknown = sorted(set(values) - declared)
        if unknown:
            takes = ", ".join(_option(f.name) for f in op.fields) or "no options"
            raise CommandError(
                f"{op.name} does not take {', '.join(_option(n) for n in unknown)}; "
                f"it takes {takes}."
            )
        return values

    def show(self, case: Case, actor: Actor | None) -> None:
        write = self.stdout.write
        write(f"{case.reference}  {case.get_request_type_display()}  ({case.regime})")
        write(f"  state      {case.get_state_display()} ({case.state})")
        due = deadlines.local_date(case.due_at)
        extended = ""
        if case.original_due_at:
            extended = f" (extended from {deadlines.local_date(case.original_due_at)})"
        write(f"  received   {deadlines.local_date(case.received_at)}")
        write(f"  due        {due}{extended}")
        write(f"  assignee   {case.assignee.get_username() if case.assignee else '-'}")
        if case.legal_hold_at:
            write(f"  legal hold since {deadlines.local_date(case.legal_hold_at)}")
        identifiers = CaseIdentifier.objects.filter(case=case)
        if identifiers:
            write("  identifiers")
            for i in identifiers:
                confirmed = ", confirmed" if i.confirmed_at else ""
                write(f"    {i.kind}: {i.value}  ({i.source}, {i.get_status_display()}{confirmed})")
        runs = selectors.current_runs(case).select_related("system")
        if runs:
            write("  sources")
            for run in runs:
                error = f"  {run.error}" if run.state == ConnectorRun.State.FAILED else ""
                write(
                    f"    {run.system.slug} round {run.round}: {run.get_state_display()}, "
                    f"{run.records_count} records, {run.attempts} attempt(s){error}"
                )
        if case.review_completed_at or case.state == "in_review":
            summary = selectors.review_summary(case)
            status = "complete" if case.review_completed_at else "open"
            write(
                f"  review     {status}: {summary.records} records, {summary.excluded} left "
                f"out, {summary.redacted} values redacted"
            )
        if case.state == "in_review" and case.review_completed_at:
            items = selectors.release_check(case)
            if items:
                # What `approve` asks to acknowledge (--field acknowledge=yes): staff only.
                write("  release check (not the verified channel)")
                for item in items:
                    write(f"    {item.kind}: {item.value}  ({'; '.join(item.places)})")
        asked = selectors.asked_corrections(case) if case.request_type == "rectification" else []
        if asked:
            # What draft_plan's corrections decide, each by its name (field key, else words).
            write("  corrections asked (decide each: draft_plan --field corrections=...)")
            for item in asked:
                write(f"    {item.name}: {item.correct}")
        self.show_others_told(case)
        bundle = Bundle.objects.filter(case=case).first()
        if bundle is not None:
            write(f"  bundle     {bundle.get_state_display()}, {bundle.records} records")
        who = actor if actor is not None else _anyone_allowed()
        offered = [op.name for op in operations.offered(case, who)]
        whom = actor.label if actor is not None else "a member with every permission"
        write(f"  offered    {', '.join(offered) or '-'}  (to {whom})")

    def show_others_told(self, case: Case) -> None:
        """The processors instructed and the recipients to tell (record_recipient_notice
        --field recipient=CODE --field outcome=sent|impossible|disproportionate)."""
        write = self.stdout.write
        instructions = case_instructions(case)
        if instructions:
            write("  processors")
            for i in instructions:
                write(
                    f"    {i.system.slug} ({i.processor}): {i.get_state_display()}, "
                    f"due {deadlines.local_date(i.due_at)}"
                )
        notices = recipient_notices(case)
        if notices:
            write("  recipients (Art. 19)")
            opted_out = case_disclosure_stopped(case)
            for n in notices:
                reason = f": {n.reason}" if n.reason else ""
                stopped = (
                    " (disclosure stopped: opt-out in force)"
                    if opted_out and stopped_by_opt_out(n.recipient)
                    else ""
                )
                write(f"    {n.recipient.code}: {n.get_outcome_display()}{reason}{stopped}")


def _anyone_allowed() -> Actor:
    """A staff member with every permission, not saved: what the case's state allows."""
    return Actor.staff(get_user_model()(is_active=True, is_staff=True, is_superuser=True))


def _option(name: str) -> str:
    return f"--{name}" if name in OWN_OPTIONS else f"--field {name}=..."


def _form_errors(form) -> str:
    lines = []
    for name, errors in form.errors.items():
        where = _option(name) if name != "__all__" else ""
        for error in errors:
            lines.append(f"{where}: {error}" if where else str(error))
    return "\n".join(lines)
