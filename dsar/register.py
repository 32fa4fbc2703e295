"""Loading the register of processing from a YAML file (dsar/data/default_register.yaml).

The file is checked whole first (unknown sections and keys, missing codes, references to
purposes, bases, ... that neither the file nor the database has), then written in one
transaction: rows are matched by code (slug for source systems, key for fields), created or
updated, and saved only when something changed, so that loading twice changes nothing and writes
no register audit events. The loader never deletes: rows removed from the file stay until someone
deletes them in the admin.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q

from dsar.models import (
    LANGUAGES,
    ControllerInfo,
    DataCategory,
    DataField,
    DataSource,
    LegalBasis,
    Purpose,
    Recipient,
    RetentionRule,
    SourceSystem,
    Transfer,
)

DEFAULT_REGISTER_PATH = Path(__file__).resolve().parent / "data" / "default_register.yaml"
FORMAT_VERSION = 1


class RegisterError(Exception):
    """The register file is malformed; the message names every problem found."""


@dataclass(frozen=True)
class Section:
    name: str
    singular: str
    model: type[models.Model]
    key: str
    # YAML key -> (referenced section, model field)
    many: Mapping[str, str] = field(default_factory=dict)
    one: Mapping[str, str] = field(default_factory=dict)
    children: str = ""


SECTIONS: tuple[Section, ...] = (
    Section("legal_bases", "legal basis", LegalBasis, "code"),
    Section("purposes", "purpose", Purpose, "code", many={"legal_bases": "legal_bases"}),
    Section("retention_rules", "retention rule", RetentionRule, "code"),
    Section("recipients", "recipient", Recipient, "code"),
    Section("transfers", "transfer", Transfer, "code"),
    Section("sources", "source", DataSource, "code"),
    Section(
        "categories",
        "category",
        DataCategory,
        "code",
        many={
            "purposes": "purposes",
            "legal_bases": "legal_bases",
            "recipients": "recipients",
            "transfers": "transfers",
            "sources": "sources",
        },
        one={"retention_rule": "retention_rules"},
        children="fields",
    ),
    Section(
        "source_systems",
        "source system",
        SourceSystem,
        "slug",
        many={"categories": "categories", "disclosed_to": "recipients"},
    ),
)
SECTION_BY_NAME = {s.name: s for s in SECTIONS}
TOP_LEVEL_KEYS = {"version", "controller", *SECTION_BY_NAME}


@dataclass
class LoadResult:
    counts: dict[str, Counter] = field(default_factory=dict)

    def count(self, section: str, status: str) -> None:
        self.counts.setdefault(section, Counter())[status] += 1

    def summary_lines(self) -> list[str]:
        lines = []
        for name in ["controller", *SECTION_BY_NAME, "fields"]:
            c = self.counts.get(name)
            if not c:
                continue
            total = c["created"] + c["updated"] + c["unchanged"]
            label = name.replace("_", " ")
            lines.append(
                f"{label}: {total} ({c['created']} created, {c['updated']} updated, "
                f"{c['unchanged']} unchanged)"
            )
        return lines


def _scalar_fields(model: type[models.Model], exclude: set[str] = frozenset()) -> set[str]:
    return {
        f.name
        for f in model._meta.concrete_fields
        if f.editable and not f.primary_key and not f.is_relation and f.name not in exclude
    }


def read_register_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegisterError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise RegisterError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegisterError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RegisterError(f"{path}: the top level must be a mapping of sections")
    return data


def load_register_file(path: str | Path = DEFAULT_REGISTER_PATH) -> LoadResult:
    return load_register(read_register_file(path))


# --- checking ----------------------------------------------------------------------------------


def _where(section: str, index: int, row: Mapping[str, Any], key: str) -> str:
    value = row.get(key) if isinstance(row, Mapping) else None
    return f"{section}[{value}]" if value not in (None, "") else f"{section}[{index}]"


def _check_keys(where: str, row: Any, allowed: set[str], errors: list[str]) -> bool:
    if not isinstance(row, Mapping):
        errors.append(f"{where}: must be a mapping, not {type(row).__name__}")
        return False
    unknown = sorted(set(row) - allowed)
    if unknown:
        errors.append(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(sorted(allowed))}"
        )
    return True


def _known_keys(data: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every code the file defines, plus those already in the database, by section."""
    known: dict[str, set[str]] = {}
    for section in SECTIONS:
        rows = data.get(section.name) or []
        in_file = {
            str(r[section.key])
            for r in rows
            if isinstance(r, Mapping) and r.get(section.key) not in (None, "")
        }
        in_db = set(section.model.objects.values_list(section.key, flat=True))
        if section.model is DataCategory:
            # Categories may be named by slug as well as by code.
            in_file |= {str(r["slug"]) for r in rows if isinstance(r, Mapping) and r.get("slug")}
            in_db |= set(DataCategory.objects.values_list("slug", flat=True))
        known[section.name] = in_file | in_db
    return known


def check_register(data: Mapping[str, Any]) -> None:
    """Raise RegisterError listing every structural problem and unknown reference."""
    errors: list[str] = []
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        errors.append(
            f"unknown section(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(sorted(TOP_LEVEL_KEYS))}"
        )
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        errors.append(f"version: {version!r} is not supported (expected {FORMAT_VERSION})")

    controller = data.get("controller")
    if controller is not None:
        _check_keys("controller", controller, _scalar_fields(ControllerInfo), errors)

    known = _known_keys(data)
    for section in SECTIONS:
        rows = data.get(section.name)
        if rows is None:
            continue
        if not isinstance(rows, list):
            errors.append(f"{section.name}: must be a list, not {type(rows).__name__}")
            continue
        allowed = _scalar_fields(section.model) | set(section.many) | set(section.one)
        if section.children:
            allowed.add(section.children)
        seen: set[str] = set()
        for index, row in enumerate(rows):
            where = _where(section.name, index, row, section.key)
            if not _check_keys(where, row, allowed, errors):
                continue
            code = row.get(section.key)
            if code in (None, ""):
                errors.append(f"{where}: missing {section.key!r}")
            elif not isinstance(code, str):
                # YAML reads 2.10 as the number 2.1: codes must be quoted.
                errors.append(f'{where}: {section.key} must be text; quote it, e.g. "{code}"')
            elif code in seen:
                errors.append(f"{where}: {section.key} {code!r} appears twice")
            else:
                seen.add(code)
            if "config" in row and not isinstance(row["config"], Mapping):
                errors.append(f"{where}: config must be a mapping")
            for key, target in {**section.many, **section.one}.items():
                value = row.get(key)
                if value is None:
                    continue
                names = value if key in section.many else [value]
                if key in section.many and not isinstance(value, list):
                    errors.append(f"{where}: {key} must be a list of codes")
                    continue
                for name in names:
                    if str(name) not in known[target]:
                        singular = SECTION_BY_NAME[target].singular
                        errors.append(f"{where}: {key} names an unknown {singular} {name!r}")
            if section.children:
                _check_fields(where, row, errors)
    if errors:
        raise RegisterError("\n".join(errors))


def _check_fields(where: str, category: Mapping[str, Any], errors: list[str]) -> None:
    rows = category.get("fields")
    if rows is None:
        return
    if not isinstance(rows, list):
        errors.append(f"{where}.fields: must be a list")
        return
    allowed = _scalar_fields(DataField)
    seen: set[str] = set()
    for index, row in enumerate(rows):
        field_where = _where(f"{where}.fields", index, row, "key")
        if not _check_keys(field_where, row, allowed, errors):
            continue
        key = row.get("key")
        if key in (None, ""):
            errors.append(f"{field_where}: missing 'key'")
        elif not isinstance(key, str):
            errors.append(f"{field_where}: key must be text")
        elif key in seen:
            errors.append(f"{field_where}: key {key!r} appears twice")
        else:
            seen.add(key)
        # A flagged field makes its category flagged, so that review sees it at either level.
        for flag in ("may_reveal_special_category", "concerns_other_people"):
            if row.get(flag) and not category.get(flag):
                errors.append(f"{field_where}: {flag} is set but the category's {flag} is not")
        # Art. 9(2): the subject is told on which condition such data is processed.
        if row.get("may_reveal_special_category"):
            missing = [
                f"special_category_condition_{language}"
                for language in LANGUAGES
                if not str(row.get(f"special_category_condition_{language}") or "").strip()
            ]
            if missing:
                errors.append(
                    f"{field_where}: may reveal special category data but names no Art. 9(2) "
                    f"condition ({', '.join(missing)})"
                )


# --- writing -----------------------------------------------------------------------------------


def _clean_values(
    where: str, model: type[models.Model], row: Mapping[str, Any], names: set[str]
) -> dict[str, Any]:
    """The row's scalar values, absent ones at their model default (the file describes whole
    rows), converted as the model field would so that comparing with stored values works."""
    values: dict[str, Any] = {}
    for name in names:
        model_field = model._meta.get_field(name)
        if name in row:
            raw = row[name]
            if raw is None and not model_field.null:
                raw = "" if isinstance(model_field, models.CharField | models.TextField) else raw
            try:
                values[name] = model_field.to_python(raw)
            except ValidationError as exc:
                raise RegisterError(f"{where}: {name}: {'; '.join(exc.messages)}") from exc
        else:
            values[name] = model_field.get_default()
    return values


def _save(where: str, obj: models.Model) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        problems = "; ".join(
            f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()
        )
        raise RegisterError(f"{where}: {problems}") from exc
    obj.save()


def _upsert(
    where: str,
    model: type[models.Model],
    lookup: dict[str, Any],
    values: dict[str, Any],
) -> tuple[models.Model, str]:
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model(**lookup, **values)
        _save(where, obj)
        return obj, "created"
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if not changed:
        return obj, "unchanged"
    for name in changed:
        setattr(obj, name, values[name])
    if hasattr(obj, "version"):
        obj.version += 1  # a versioned rule: plans cite the version they applied
    _save(where, obj)
    return obj, "updated"


def _resolve(section_name: str, names: list[Any]) -> list[models.Model]:
    section = SECTION_BY_NAME[section_name]
    objects = []
    for name in names:
        query = Q(**{section.key: str(name)})
        if section.model is DataCategory:
            query |= Q(slug=str(name))
        objects.append(section.model.objects.get(query))
    return objects


@transaction.atomic
def load_register(data: Mapping[str, Any]) -> LoadResult:
    """Check, then create or update the register from `data` (a parsed register file)."""
    check_register(data)
    result = LoadResult()

    if data.get("controller") is not None:
        values = _clean_values(
            "controller", ControllerInfo, data["controller"], _scalar_fields(ControllerInfo)
        )
        _, status = _upsert("controller", ControllerInfo, {"pk": 1}, values)
        result.count("controller", status)

    for section in SECTIONS:
        scalar = _scalar_fields(section.model, exclude={section.key})
        for index, row in enumerate(data.get(section.name) or []):
            where = _where(section.name, index, row, section.key)
            values = _clean_values(where, section.model, row, scalar)
            for key, target in section.one.items():
                found = _resolve(target, [row[key]]) if row.get(key) is not None else [None]
                values[key] = found[0]
            obj, status = _upsert(
                where, section.model, {section.key: str(row[section.key])}, values
            )
            for key, target in section.many.items():
                wanted = _resolve(target, row.get(key) or [])
                relation = getattr(obj, key)
                if {o.pk for o in wanted} != set(relation.values_list("pk", flat=True)):
                    relation.set(wanted)
                    if status == "unchanged":
                        status = "updated"
            result.count(section.name, status)
            if section.children:
                _load_fields(where, obj, row.get(section.children) or [], result)
    return result


def _load_fields(
    where: str, category: DataCategory, rows: list[Mapping[str, Any]], result: LoadResult
) -> None:
    scalar = _scalar_fields(DataField, exclude={"key"})
    for index, row in enumerate(rows):
        field_where = _where(f"{where}.fields", index, row, "key")
        values = _clean_values(field_where, DataField, {"position": index + 1, **row}, scalar)
        _, status = _upsert(
            field_where, DataField, {"category": category, "key": row["key"]}, values
        )
        result.count("fields", status)
