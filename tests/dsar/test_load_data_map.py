"""`manage.py load_data_map`: idempotent, --path, and clear errors for a malformed file."""

from __future__ import annotations

import textwrap

import pytest
from django.core.management.base import CommandError
from django.db.models.signals import post_save

from dsar.models import (
    DataCategory,
    DataField,
    LegalBasis,
    Purpose,
    Recipient,
    RetentionRule,
    SourceSystem,
)
from tests.dsar.conftest import load_data_map

pytestmark = pytest.mark.django_db


def write(tmp_path, text: str):
    path = tmp_path / "register.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def counts() -> dict[str, int]:
    models = (DataCategory, DataField, LegalBasis, Purpose, Recipient)
    return {m.__name__: m.objects.count() for m in models}


def test_it_prints_what_it_loaded(register):
    assert "categories: 12 (12 created, 0 updated, 0 unchanged)" in register
    assert "purposes: 20 (20 created" in register
    assert "recipients: 8 (8 created" in register
    assert "legal bases: 4 (4 created" in register


def test_loading_twice_creates_no_duplicates(register):
    before = counts()
    output = load_data_map()
    assert counts() == before
    assert "categories: 12 (0 created, 0 updated, 12 unchanged)" in output
    assert " created" not in output.replace("0 created", "")


def test_loading_twice_saves_nothing_so_the_audit_trail_stays_quiet(register):
    saved = []

    def on_save(sender, **kwargs):
        if sender._meta.app_label == "dsar":
            saved.append(sender)

    post_save.connect(on_save, weak=False)
    try:
        load_data_map()
    finally:
        post_save.disconnect(on_save)
    assert saved == []


def test_loading_again_restores_an_edited_text_and_links(register):
    purpose = Purpose.objects.get(code="marketing")
    purpose.name_en = "Edited"
    purpose.save()
    purpose.legal_bases.clear()

    output = load_data_map()

    purpose.refresh_from_db()
    assert purpose.name_en == "Marketing communications"
    assert set(purpose.legal_bases.values_list("code", flat=True)) == {
        "legitimate_interests",
        "consent",
    }
    assert "purposes: 20 (0 created, 1 updated, 19 unchanged)" in output


def test_a_changed_retention_rule_gets_a_new_version_an_unchanged_one_keeps_its_own(register):
    RetentionRule.objects.filter(code="purchase_records").update(keep_reason_en="Edited")
    before = dict(RetentionRule.objects.values_list("code", "version"))

    load_data_map()

    after = dict(RetentionRule.objects.values_list("code", "version"))
    assert after["purchase_records"] == before["purchase_records"] + 1
    assert {c: v for c, v in after.items() if c != "purchase_records"} == {
        c: v for c, v in before.items() if c != "purchase_records"
    }


def test_path_loads_another_file_of_the_same_shape(register, tmp_path):
    path = write(
        tmp_path,
        """
        categories:
          - code: "3.1"
            slug: loyalty
            name_sq: Programi i besnikërisë
            name_en: Loyalty programme
            origin: provided
            purposes: [marketing]
            legal_bases: [consent]
            retention_rule: needed_for_purpose
            fields:
              - key: points
                name_sq: Pikët
                name_en: Points
        source_systems:
          - slug: crm
            name: CRM
            connector: sql
            config: {dsn_env: CRM_DSN}
            categories: [online_account, "2.2", loyalty]
        """,
    )
    output = load_data_map("--path", path)

    loyalty = DataCategory.objects.get(code="3.1")
    assert loyalty.purposes.get().code == "marketing"
    assert loyalty.fields.get().key == "points"
    crm = SourceSystem.objects.get(slug="crm")
    assert crm.config == {"dsn_env": "CRM_DSN"}
    assert set(crm.categories.values_list("code", flat=True)) == {"2.1", "2.2", "3.1"}
    assert "source systems: 1 (1 created" in output
    assert list(DataCategory.objects.values_list("code", flat=True))[-1] == "3.1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            """
            purposes:
              - code: p
                name_sq: a
                name_en: b
                colour: red
            """,
            "purposes[p]: unknown key(s) 'colour'",
        ),
        (
            """
            recipients:
              - name_sq: a
                name_en: b
            """,
            "recipients[0]: missing 'code'",
        ),
        (
            """
            purposes:
              - code: p
                name_sq: a
                name_en: b
                legal_bases: [divine_right]
            """,
            "purposes[p]: legal_bases names an unknown legal basis 'divine_right'",
        ),
        (
            """
            categories:
              - code: "9.1"
                slug: x
                name_sq: a
                name_en: b
                origin: provided
                purposes: [no_such_purpose]
            """,
            "categories[9.1]: purposes names an unknown purpose 'no_such_purpose'",
        ),
        (
            """
            categories:
              - code: "9.1"
                slug: x
                name_sq: a
                name_en: b
                origin: provided
                retention_rule: forever
            """,
            "retention_rule names an unknown retention rule 'forever'",
        ),
        (
            """
            categories:
              - code: 2.10
                slug: x
                name_sq: a
                name_en: b
                origin: provided
            """,
            'code must be text; quote it, e.g. "2.1"',
        ),
        (
            """
            categories:
              - code: "9.1"
                slug: x
                name_sq: a
                name_en: b
                origin: overheard
            """,
            "categories[9.1]: origin: Value 'overheard' is not a valid choice.",
        ),
        (
            """
            categories:
              - code: "9.1"
                slug: x
                name_sq: a
                name_en: b
                origin: provided
                fields:
                  - key: allergy
                    name_sq: a
                    name_en: b
                    may_reveal_special_category: true
            """,
            "categories[9.1].fields[allergy]: may_reveal_special_category is set but the "
            "category's may_reveal_special_category is not",
        ),
        (
            """
            categories:
              - code: "9.1"
                slug: x
                name_sq: a
                name_en: b
                origin: provided
                may_reveal_special_category: true
                fields:
                  - key: allergy
                    name_sq: a
                    name_en: b
                    may_reveal_special_category: true
                    special_category_condition_en: Your explicit consent (Art. 9(2)(a))
            """,
            "categories[9.1].fields[allergy]: may reveal special category data but names no "
            "Art. 9(2) condition (special_category_condition_sq)",
        ),
        (
            """
            legal_bases:
              - code: x
                article: Art. 6(1)(a)
                name_en: Only English
            """,
            "legal_bases[x]: name_sq: This field cannot be blank.",
        ),
        ("purposes: {code: p}", "purposes: must be a list, not dict"),
        ("categorys: []", "unknown section(s) 'categorys'"),
        ("version: 2", "version: 2 is not supported"),
        ("purposes: [unclosed", "not valid YAML"),
        ("- just a list", "the top level must be a mapping of sections"),
    ],
)
def test_a_malformed_file_is_refused_with_a_message_naming_the_problem(db, tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CommandError) as excinfo:
        load_data_map("--path", path)
    assert message in str(excinfo.value)
    assert path in str(excinfo.value)


def test_it_lists_every_problem_at_once(db, tmp_path):
    path = write(
        tmp_path,
        """
        purposes:
          - code: a
            name_sq: a
            name_en: a
            legal_bases: [nope]
          - name_sq: b
            name_en: b
        """,
    )
    with pytest.raises(CommandError) as excinfo:
        load_data_map("--path", path)
    assert "unknown legal basis 'nope'" in str(excinfo.value)
    assert "purposes[1]: missing 'code'" in str(excinfo.value)


def test_a_refused_file_changes_nothing(register, tmp_path):
    before = counts()
    path = write(
        tmp_path,
        """
        legal_bases:
          - code: vital_interests
            article: Art. 6(1)(d)
            name_sq: Interesat jetike
            name_en: Vital interests
        categories:
          - code: "9.1"
            slug: x
            name_sq: a
            name_en: b
            origin: nonsense
        """,
    )
    with pytest.raises(CommandError):
        load_data_map("--path", path)
    assert counts() == before
    assert not LegalBasis.objects.filter(code="vital_interests").exists()


def test_a_missing_file_is_a_command_error(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        load_data_map("--path", str(tmp_path / "nowhere.yaml"))
