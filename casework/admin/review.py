"""The review of gathered data in the admin: the review page, its decisions, and the Bundle
section of the case."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from casework import operations, selectors, services
from casework.actors import Actor
from casework.admin.forms import (
    ExcludeRecordForm,
    LinkCodeForm,
    RecordDecisionForm,
    RecordLinkForm,
    RedactValueForm,
)
from casework.models import (
    BUNDLE_TYPES,
    Bundle,
    Case,
    ConnectorRun,
    RecordDecision,
    RecordLink,
    State,
)
from casework.selectors.identity import FOUND_BY_CLAIM, LOOKALIKE, OTHER_EMAIL, SubjectLink
from dsar.identifiers import IDENTIFIER_LABELS
from dsar.models import DataCategory

# --- what staff can do to a case -----------------------------------------------------------------


REVIEW_PAGE_SIZE = 50


VALUE_PREVIEW_CHARS = 160


def review_summary_details(case: Case) -> list[tuple[str, Any]]:
    """What a review decides, in numbers, for the confirmation pages of complete and reopen."""
    summary = selectors.review_summary(case)
    return [
        (_("Records gathered"), summary.records),
        (_("Records left out (not the subject's)"), summary.excluded),
        (_("Values redacted"), summary.redacted),
    ]


def _normal_name(name: str) -> str:
    """ "Emergency contact", "emergency_contact" and "Emergency-Contact" are one field."""
    return re.sub(r"\W+", "_", name.casefold()).strip("_")


def category_flags(category: DataCategory | None, language: str) -> dict[str, Any] | None:
    """What the register says a reviewer must look at in this category, or None: the category's
    notes, and its fields flagged one by one (by normalised key and names, to mark columns)."""
    if category is None:
        return None
    fields: dict[str, list[str]] = {}
    flagged = []
    for f in category.fields.all():
        labels = []
        if f.concerns_other_people:
            labels.append(_("other people's data"))
        if f.may_reveal_special_category:
            labels.append(_("may reveal special-category data"))
        if not labels:
            continue
        flagged.append({"name": f.text("name", language), "labels": labels})
        for name in (f.key, f.name_en, f.name_sq):
            if name:
                fields[_normal_name(name)] = labels
    notes = []
    if category.concerns_other_people:
        notes.append(
            {
                "kind": "other_people",
                "title": _("Other people's data"),
                "text": category.text("other_people_note", language),
            }
        )
    if category.may_reveal_special_category:
        notes.append(
            {
                "kind": "special_category",
                "title": _("Special-category data (Art. 9)"),
                "text": category.text("special_category_note", language),
            }
        )
    if not notes and not flagged:
        return None
    return {"notes": notes, "fields": flagged, "by_field": fields}


def _value_preview(value: Any) -> dict[str, Any]:
    """A value as the review table shows it: text, cut short with the whole in a tooltip."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= VALUE_PREVIEW_CHARS:
        return {"text": text, "full": "", "truncated": False}
    return {"text": text[:VALUE_PREVIEW_CHARS] + "…", "full": text, "truncated": True}


def _decision(d: RecordDecision, users: dict[int, Any]) -> dict[str, Any]:
    return {
        "reason": d.get_reason_display(),
        "note": d.note,
        "by": users.get(d.decided_by_id),
        "at": d.decided_at,
    }


def review_row(
    row: dict[str, Any],
    *,
    number: int,
    flags: dict[str, list[str]],
    users: dict[int, Any],
    show_identifier_value: bool,
) -> dict[str, Any]:
    """One record of `selectors.review_rows` as the review table shows it."""
    run = row["run"]
    excluded = None
    redactions: dict[str, RecordDecision] = {}
    for d in row["decisions"]:
        if d.action == RecordDecision.Action.EXCLUDE:
            excluded = d
        else:
            redactions[d.field] = d
    found_by = row["found_by"] if isinstance(row["found_by"], dict) else {}
    return {
        "number": number,
        "run": run.pk,
        "round": run.round,
        "system": run.system.name,
        "source": row["source"],
        "key": row["key"],
        "found_by_kind": found_by.get("kind", ""),
        "found_by_value": found_by.get("value", "") if show_identifier_value else None,
        "held": row.get("held", False),
        "excluded": _decision(excluded, users) if excluded else None,
        "fields": [
            {
                "name": str(name),
                **_value_preview(value),
                "flags": flags.get(_normal_name(str(name)), []),
                "redacted": _decision(redactions[name], users) if name in redactions else None,
            }
            for name, value in row["data"].items()
        ],
    }


HELD_BECAUSE = {
    FOUND_BY_CLAIM: _(
        "Found only through an identifier the requester typed. Typing it proves nothing: "
        "the requester proved only that they control their e-mail address."
    ),
    OTHER_EMAIL: _(
        "This record holds an e-mail address that is not the requester's verified address."
    ),
    LOOKALIKE: _(
        "The request's address looks like another address we hold: nothing found for it is "
        "trusted until the flag is cleared."
    ),
}


def held_link_row(link: SubjectLink, users: dict[int, Any]) -> dict[str, Any]:
    """One held subject record as the review page warns of it: which record, found by which
    identifier, the contact details it holds (where evidence can be sought), staff's
    decision if any."""
    decision = link.decision
    return {
        "system_id": link.system_id,
        "system": link.system_name,
        "subject_key": link.subject_key,
        "found_by": [
            {"kind": str(IDENTIFIER_LABELS.get(i.kind, i.kind)), "value": i.value}
            for i in link.found_by
        ],
        "contacts": [
            {"kind": str(IDENTIFIER_LABELS.get(i.kind, i.kind)), "value": i.value}
            for i in link.contacts
        ],
        "records": link.records,
        "has_email": any(i.kind == "email" for i in link.contacts),
        "why": HELD_BECAUSE.get(link.held_because, ""),
        "decision": {
            "label": decision.get_decision_display(),
            "evidence": decision.get_evidence_display(),
            "note": decision.note,
            "by": users.get(decision.decided_by_id),
            "at": decision.decided_at,
            "left_out": decision.decision == RecordLink.Decision.LEFT_OUT,
        }
        if decision
        else None,
    }


BUNDLE_COLOURS = {
    Bundle.State.PENDING: "#2b6cb0",
    Bundle.State.BUILDING: "#6b46c1",
    Bundle.State.READY: "#2f855a",
    Bundle.State.FAILED: "#ba2121",
    Bundle.State.DELETED: "#718096",
}


def bundle_row(bundle: Bundle) -> dict[str, Any]:
    """One build as the Bundle section shows it: its state and numbers, never its file."""
    return {
        "kind": bundle.get_kind_display(),
        "state": bundle.state,
        "state_label": bundle.get_state_display(),
        "colour": BUNDLE_COLOURS.get(bundle.state, "#718096"),
        "attempts": bundle.attempts,
        "records": bundle.records,
        "size": filesizeformat(bundle.size) if bundle.size else "—",
        "created_at": bundle.created_at,
        "finished_at": bundle.finished_at,
        "expires_at": bundle.expires_at,
        "error": bundle.error,
    }


def bundle_note(case: Case) -> str:
    """What the review page says about the bundle: only access and portability cases have one,
    and what is true of it depends on whether a build was asked for, runs, or is done."""
    if case.request_type not in BUNDLE_TYPES:
        return ""
    if case.bundle_ready_at is not None:
        return _("The bundle was built from this reviewed view on %(at)s.") % {
            "at": date_format(timezone.localtime(case.bundle_ready_at), "DATETIME_FORMAT")
        }
    latest = Bundle.objects.filter(case=case).first()  # newest first
    if latest is None:
        if selectors.review_is_open(case):
            return _(
                "The bundle is built only from this reviewed view, after the review is "
                "complete and the case approved."
            )
        return _("The bundle will be built from this reviewed view once the case is approved.")
    if latest.state in (Bundle.State.PENDING, Bundle.State.BUILDING):
        return _("The bundle is being built from this reviewed view.")
    if latest.state == Bundle.State.FAILED:
        return _("The build of the bundle failed: see the Bundle section of the case.")
    if latest.state == Bundle.State.DELETED:
        return _("The bundle built from this reviewed view was deleted after its retention.")
    return _("The bundle was built from this reviewed view.")


class ReviewAdminViews:
    """The review part of CaseAdmin: the review page and its decisions."""

    def review_context(self, request: HttpRequest, case: Case) -> dict[str, Any]:
        """The Review notice (a link to the review page while the case is in review, or once
        its review is complete) and the Bundle section of the change page."""
        context: dict[str, Any] = {"review": None, "bundles": None}
        if case.state == State.IN_REVIEW or case.review_completed_at is not None:
            summary = selectors.review_summary(case)
            context["review"] = {
                "url": self._review_url(case),
                "open": selectors.review_is_open(case),
                "records": summary.records,
                "excluded": summary.excluded,
                "redacted": summary.redacted,
                "completed_at": case.review_completed_at,
                "completed_by": case.review_completed_by,
            }
        if request.user.has_perm("casework.view_bundle"):
            rows = list(Bundle.objects.filter(case=case))
            if rows or case.request_type in BUNDLE_TYPES:
                context["bundles"] = [bundle_row(b) for b in rows]
        return context

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The gathered records of one category, a page at a time, with what the register flags
        and the decisions taken; forms to leave out records and redact values while the review
        is open, for those who may review. GET changes nothing."""
        case = self._case_or_404(request, object_id)
        user = request.user
        counts = selectors.review_category_counts(case)
        decided = selectors.review_decision_counts(case)
        known = {c.slug: c for c in DataCategory.objects.filter(slug__in=counts)}
        # The register's order; a category the register does not know (yet) comes last.
        slugs = sorted(counts, key=lambda s: (known[s].sort_key, s) if s in known else ("~", s))
        categories = []
        for slug in slugs:
            category = known.get(slug)
            categories.append(
                {
                    "slug": slug,
                    "code": category.code if category else "",
                    "name": category.text("name", case.language) if category else slug,
                    "records": counts[slug],
                    "excluded": decided.get(slug, Counter())[RecordDecision.Action.EXCLUDE],
                    "redacted": decided.get(slug, Counter())[RecordDecision.Action.REDACT],
                    "flagged": bool(
                        category
                        and (category.concerns_other_people or category.may_reveal_special_category)
                    ),
                    "url": self._review_url(case, slug),
                }
            )
        current = None
        if categories:
            slug = request.GET.get("category") or categories[0]["slug"]
            current = next((c for c in categories if c["slug"] == slug), None)
            if current is None:
                raise Http404("No records of that category in this case.")
        # The auditor sees how many records there are, never what they hold.
        counts_only = not user.has_perm("casework.review_records")
        context: dict[str, Any] = {"counts_only": counts_only, "category": current}
        if current is not None and not counts_only:
            pages = max(1, math.ceil(current["records"] / REVIEW_PAGE_SIZE))
            try:
                page = min(max(int(request.GET.get("page", 1)), 1), pages)
            except ValueError:
                page = 1
            rows = selectors.review_rows(
                case,
                category=current["slug"],
                limit=REVIEW_PAGE_SIZE,
                offset=(page - 1) * REVIEW_PAGE_SIZE,
            )
            category = known.get(current["slug"])
            flags = category_flags(category, case.language)
            user_ids = {d.decided_by_id for r in rows for d in r["decisions"]}
            users = get_user_model().objects.in_bulk(user_ids) if user_ids else {}
            show_values = user.has_perm("casework.view_caseidentifier")
            first = (page - 1) * REVIEW_PAGE_SIZE
            context.update(
                category=current,
                flags=flags,
                page=page,
                pages=pages,
                previous_url=self._review_url(case, current["slug"], page - 1)
                if page > 1
                else None,
                next_url=self._review_url(case, current["slug"], page + 1)
                if page < pages
                else None,
                rows=[
                    review_row(
                        row,
                        number=first + i + 1,
                        flags=flags["by_field"] if flags else {},
                        users=users,
                        show_identifier_value=show_values,
                    )
                    for i, row in enumerate(rows)
                ],
            )
        may_decide = selectors.review_is_open(case) and user.has_perm("casework.review_records")
        held = selectors.held_links(case) if user.has_perm("casework.view_caseidentifier") else []
        deciders = {link.decision.decided_by_id for link in held if link.decision}
        decided_by = get_user_model().objects.in_bulk(deciders) if deciders else {}
        actions = [
            {"name": op.name, "label": op.label, "url": self.operation_url(case, op.name)}
            for op in (
                operations.BY_NAME["complete_review"],
                operations.BY_NAME["reopen_review"],
            )
            if op.offered(case, Actor.staff(user))
        ]
        context.update(
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Review of the gathered data"),
                "subtitle": case.reference,
                "case": case,
                "change_url": self._change_url(case),
                "categories": categories,
                "total": sum(counts.values()),
                "may_decide": may_decide,
                "review_open": selectors.review_is_open(case),
                "has_bundle": case.request_type in BUNDLE_TYPES,
                "bundle_note": bundle_note(case),
                "review_actions": actions,
                "reasons": RecordDecision.Reason.choices,
                "held": [held_link_row(link, decided_by) for link in held],
                "lookalike_held": case.lookalike_held,
                "link_form": RecordLinkForm(),
                "link_url": self._case_url("review_decide", case, "link"),
                "link_code_url": self._case_url("review_decide", case, "link_code"),
                "exclude_url": self._case_url("review_decide", case, "exclude"),
                "redact_url": self._case_url("review_decide", case, "redact"),
            }
        )
        return TemplateResponse(request, "admin/casework/case/review.html", context)

    def review_decide_view(
        self, request: HttpRequest, object_id: str, decision: str
    ) -> HttpResponse:
        """Leave a record out, or redact one of its values (POST only), through the review
        service; the reviewer comes back to the same category and page."""
        if decision == "link":
            return self._decide_link(request, object_id)
        if decision == "link_code":
            return self._send_link_code(request, object_id)
        decide = {
            "exclude": (ExcludeRecordForm, services.exclude_record),
            "redact": (RedactValueForm, services.redact_value),
        }.get(decision)
        if decide is None:
            raise Http404(f"No decision {decision!r}.")
        case = self._case_or_404(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form_class, service = decide
        form: RecordDecisionForm = form_class(request.POST)
        if not form.is_valid():
            back = self._review_url(case, request.POST.get("category", ""))
            problems = "; ".join(
                f"{form.fields[name].label or name}: {' '.join(errors)}"
                if name in form.fields
                else " ".join(errors)
                for name, errors in form.errors.items()
            )
            self.message_user(
                request,
                _("Nothing was recorded: %(problems)s") % {"problems": problems},
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        data = form.cleaned_data
        back = self._review_url(case, data["category"], data.get("page") or 1)
        # Record-level check before the service: the run must be this case's.
        run = get_object_or_404(
            ConnectorRun.objects.select_related("system"), pk=data["run"], case=case
        )
        label = _("Leave out") if decision == "exclude" else _("Redact")
        try:
            service(case=case, actor=Actor.staff(request.user), run=run, **form.service_kwargs())
        except ValidationError as exc:
            self.message_user(
                request, self._refused(label, "; ".join(exc.messages)), messages.ERROR
            )
        except (PermissionDenied, TransitionNotAllowed, ConcurrentTransition) as exc:
            self.message_user(request, self._refused(label, exc), messages.ERROR)
        else:
            if decision == "exclude":
                done = _("Record left out of the bundle (%(system)s).") % {
                    "system": run.system.name
                }
            else:
                done = _("“%(field)s” redacted in the bundle (%(system)s).") % {
                    "field": data["field"],
                    "system": run.system.name,
                }
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(back)

    def _held_record_post(
        self, request: HttpRequest, object_id: str, form_class, label, run, done
    ) -> HttpResponse:
        """One staff action on a held subject record (POST only): the form checked, the
        service run as the staff member, its refusal or `done(result)` said, back to the
        review page."""
        case = self._case_or_404(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        back = self._review_url(case)
        form = form_class(request.POST)
        if not form.is_valid():
            problems = "; ".join(
                f"{form.fields[name].label or name}: {' '.join(errors)}"
                if name in form.fields
                else " ".join(errors)
                for name, errors in form.errors.items()
            )
            self.message_user(request, self._refused(label, problems), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            result = run(case, Actor.staff(request.user), form.cleaned_data)
        except ValidationError as exc:
            self.message_user(
                request, self._refused(label, "; ".join(exc.messages)), messages.ERROR
            )
        except (PermissionDenied, TransitionNotAllowed, ConcurrentTransition) as exc:
            self.message_user(request, self._refused(label, exc), messages.ERROR)
        else:
            self.message_user(request, done(result), messages.SUCCESS)
        return HttpResponseRedirect(back)

    def _decide_link(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm a held subject record with evidence, or leave it out."""
        return self._held_record_post(
            request,
            object_id,
            RecordLinkForm,
            _("Decide on a held record"),
            lambda case, actor, data: services.decide_record_link(
                case=case,
                actor=actor,
                system_id=data["system"],
                subject_key=data["subject_key"],
                decision=data["decision"],
                evidence=data["evidence"],
                note=data["note"],
                code=data["code"],
            ),
            lambda made: _("Recorded: %(decision)s.") % {"decision": made.get_decision_display()},
        )

    def _send_link_code(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """E-mail a one-time code to a held record's own address."""
        return self._held_record_post(
            request,
            object_id,
            LinkCodeForm,
            _("Send a code to the record's e-mail"),
            lambda case, actor, data: services.send_link_code(
                case=case, actor=actor, system_id=data["system"], subject_key=data["subject_key"]
            ),
            lambda sent: (
                ngettext(
                    "A code was sent to the record's e-mail address. Confirm the record once "
                    "its owner gives it back.",
                    "A code was sent to the record's %(n)d e-mail addresses. Confirm the "
                    "record once their owner gives it back.",
                    sent,
                )
                % {"n": sent}
            ),
        )

    def _review_url(self, case: Case, category: str = "", page: int = 1) -> str:
        info = self.opts.app_label, self.opts.model_name
        url = reverse(f"{self.admin_site.name}:{info[0]}_{info[1]}_review", args=[case.pk])
        query = {}
        if category:
            query["category"] = category
        if page > 1:
            query["page"] = page
        return f"{url}?{urlencode(query)}" if query else url
