"""Every write of a case's fields is in casework/services: read from the source, outside the
services no module updates Case rows, assigns a case's fields or saves a case."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

from casework.models import Case

WRITES = {"update", "create", "bulk_create", "bulk_update", "get_or_create", "update_or_create"}
CASE_NAMES = {"case", "locked", "target", "merged", "obj"}  # what the code calls a case
FIELDS = {f.name for f in Case._meta.concrete_fields} | {
    f.attname for f in Case._meta.concrete_fields
}


def _writes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        # Case.objects....update(...) and the like
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in WRITES and "Case.objects" in ast.unparse(node.func.value):
                found.append(f"line {node.lineno}: {ast.unparse(node.func)[:60]}")
            receiver = node.func.value
            if (
                node.func.attr == "save"
                and isinstance(receiver, ast.Name)
                and receiver.id in CASE_NAMES
            ):
                found.append(f"line {node.lineno}: {node.func.value.id}.save()")
        # case.<field> = ...
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id in CASE_NAMES
                    and target.attr in FIELDS
                ):
                    found.append(f"line {node.lineno}: {target.value.id}.{target.attr} = ...")
    return found


def _outside_services() -> list[Path]:
    root = Path(settings.BASE_DIR) / "casework"
    return [
        path
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        and "services" not in path.parts
        # The model's transitions change their own fields; the services save them.
        and path != root / "models" / "case.py"
    ]


def test_no_case_field_is_written_outside_the_services():
    offending = {
        str(path.relative_to(settings.BASE_DIR)): found
        for path in _outside_services()
        if (found := _writes(ast.parse(path.read_text())))
    }
    assert offending == {}


def test_the_walk_finds_a_write_where_there_is_one():
    code = "Case.objects.filter(pk=1).update(bundle_ready_at=now)\nlocked.due_at = x\ncase.save()"
    assert len(_writes(ast.parse(code))) == 3
