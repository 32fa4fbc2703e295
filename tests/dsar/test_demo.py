"""`manage.py load_demo` (dsar/demo/loader.py): the demo source systems as real stores, searched
and exported through the real connectors."""

from __future__ import annotations

import csv
import re
import sqlite3
from collections import Counter
from contextlib import closing
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from casework.models import AuditEvent
from dsar.connectors.changes import ChangeRequest, Intent, Outcome, RecordRef, Strategy
from dsar.connectors.registry import (
    check_system,
    connector_for,
    exported_columns,
    validate_system,
)
from dsar.demo.loader import (
    ALBANIAN_LAST_NAMES,
    ARTA,
    SWITCHBOARD_PHONE,
    SYSTEMS,
    PostgresServer,
    drop_postgres_databases,
    postgres_names,
    system_config,
)
from dsar.demo.supportdesk import serve
from dsar.identifiers import Identifier
from dsar.models import DataCategory, DataField, SourceSystem
from tests.conftest import service_missing

TOKEN = "demo-desk-token-for-tests-0123456789"
EMAIL = Identifier("email", ARTA.email)
CUSTOMER_NUMBER = Identifier("customer_number", ARTA.customer_no)
PHONE = Identifier("phone", ARTA.phone)
NAME_COMPANY = Identifier("name_company", f"{ARTA.full_name}|{ARTA.company}")

CATEGORIES = {
    "crm": {
        "online_account", "browsing_device_interaction", "customer_enquiries", "events",
        "purchases", "fulfilment", "products_usage_service_history", "surveys_feedback",
        "cookies",
    },
    "repairs": {"fulfilment", "products_usage_service_history"},
    "supportdesk": {"customer_enquiries", "fulfilment"},
    "events": {"events"},
    "prospects": {"prospects"},
}  # fmt: skip
# What each system holds of Arta, by category.
ARTA_RECORDS = {
    "crm": {
        "online_account": 1,
        "browsing_device_interaction": 31,  # 30 web events and the account's last login
        "customer_enquiries": 2,
        "events": 1,
        "purchases": 3,  # an order and its two lines
        "fulfilment": 1,  # the order's delivery address
        "products_usage_service_history": 1,
        "surveys_feedback": 4,  # three survey answers and a marketing subscription
        "cookies": 2,
    },
    "repairs": {"fulfilment": 1, "products_usage_service_history": 3},  # 2 repairs, 1 warranty
    # her customer record and 3 tickets, 2 calls
    "supportdesk": {"customer_enquiries": 4, "fulfilment": 2},
    "events": {"events": 1},
}


def load_demo(*args: str) -> str:
    out = StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def var_dir(settings, tmp_path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.fixture
def demo(db, var_dir) -> str:
    """The demo on SQLite, 30 subjects; returns the command's output."""
    return load_demo("--subjects", "30", "--backend", "sqlite")


@pytest.fixture
def desk(demo, var_dir, monkeypatch):
    """The demo's support desk, serving its SQLite file on a free port; the system points at it."""
    monkeypatch.setenv("SUPPORTDESK_TOKEN", TOKEN)
    server, thread = serve(
        "127.0.0.1", 0, var_dir / "demo" / "supportdesk.sqlite3", TOKEN, faults=[]
    )
    system = SourceSystem.objects.get(slug="supportdesk")
    system.config["base_url"] = server.url
    system.save()
    yield server
    server.stop()
    thread.join(timeout=5)


def system(slug: str) -> SourceSystem:
    return SourceSystem.objects.get(slug=slug)


def find(slug: str, *identifiers: Identifier):
    with connector_for(system(slug)) as connector:
        return connector.find_subject(identifiers)


def export(slug: str, *identifiers: Identifier) -> list:
    with connector_for(system(slug)) as connector:
        lookup = connector.find_subject(identifiers)
        assert len(lookup.matches) == 1, f"{slug}: {lookup}"
        return list(connector.export(lookup.matches[0]))


def fulfil(slug: str, identifier: Identifier, intent: Intent, **extra):
    """Plan the intent for her records in one system and apply every automatic change:
    (changes, outcomes per target)."""
    with connector_for(system(slug)) as connector:
        (match,) = connector.find_subject([identifier]).matches
        records = [
            RecordRef(r.source, r.key, r.category, r.subject_key) for r in connector.export(match)
        ]
        request = ChangeRequest(intent=intent, records=records, salt="demo-salt", **extra)
        changes = connector.plan_changes(request)
        outcomes = {c.target: connector.apply(c).outcomes for c in changes if not c.manual}
        return changes, outcomes


def by_category(records) -> dict[str, int]:
    return dict(Counter(record.category for record in records))


def table_counts(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def demo_counts(var_dir: Path) -> dict[str, int]:
    counts = {}
    for store in ("crm", "repairs", "supportdesk"):
        for table, rows in table_counts(var_dir / "demo" / f"{store}.sqlite3").items():
            counts[f"{store}.{table}"] = rows
    for path in sorted((var_dir / "demo").glob("*/*.csv")):
        counts[path.name] = len(path.read_text(encoding="utf-8").splitlines())
    return counts


# --- the systems ------------------------------------------------------------------------------


def test_it_creates_the_five_systems_linked_to_their_categories(demo):
    systems = {s.slug: s for s in SourceSystem.objects.prefetch_related("categories")}
    assert set(systems) == {"crm", "repairs", "supportdesk", "events", "prospects"}
    assert {slug: s.connector for slug, s in systems.items()} == {
        "crm": "sql", "repairs": "sql", "supportdesk": "http", "events": "files",
        "prospects": "files",
    }  # fmt: skip
    for slug, expected in CATEGORIES.items():
        assert {c.slug for c in systems[slug].categories.all()} == expected, slug
        assert validate_system(systems[slug].connector, systems[slug].config) == []


def test_it_loads_the_register_first_when_there_is_none(demo):
    assert "loading the default one first" in demo
    assert DataCategory.objects.filter(slug="browsing_device_interaction").exists()


def test_the_sql_systems_name_their_mapping_file_and_database(demo, var_dir):
    crm = system("crm").config
    assert crm == {
        "mapping_file": "dsar/data/demo/crm.yaml",
        "url": f"sqlite:///{(var_dir / 'demo' / 'crm.sqlite3').resolve()}",
    }
    assert system("repairs").config["mapping_file"] == "dsar/data/demo/repairs.yaml"
    assert system("supportdesk").config["base_url"] == "http://127.0.0.1:8765"
    assert system("events").config["folder"] == str(var_dir / "demo" / "events")


@pytest.mark.parametrize("slug", ["crm", "repairs", "events", "prospects"])
def test_the_sql_and_csv_systems_pass_their_checks(demo, slug):
    assert check_system(system(slug)) == []


def test_the_support_desk_passes_its_check(desk):
    assert check_system(system("supportdesk")) == []


def test_every_exported_demo_column_fills_a_register_field_with_a_type(demo):
    """The report and the portability schemas name every demo column by the register."""
    fields = {(f.category.slug, f.key): f for f in DataField.objects.select_related("category")}
    for demo_system in SourceSystem.objects.all():
        columns = exported_columns(demo_system)
        assert columns, demo_system.slug
        for column in columns:
            field = fields.get((column.category, column.field))
            assert field is not None, (demo_system.slug, column)
            assert field.name_sq and field.name_en and field.value_type, field


def test_check_connectors_has_no_warning_about_the_demo(desk):
    out = StringIO()
    call_command("check_connectors", stdout=out)
    assert "WARN" not in out.getvalue()
    assert out.getvalue().count("ok   ") == 5


def test_the_support_desk_port_is_an_option(db, var_dir):
    load_demo("--subjects", "2", "--backend", "sqlite", "--supportdesk-port", "9123")
    assert system("supportdesk").config["base_url"] == "http://127.0.0.1:9123"


# --- Arta, through the identity graph ---------------------------------------------------------


def test_her_email_finds_the_crm_which_teaches_her_other_identifiers(demo):
    lookup = find("crm", EMAIL)
    assert [match.found_by for match in lookup.matches] == [EMAIL]
    assert lookup.learnt() == {EMAIL, CUSTOMER_NUMBER, PHONE, NAME_COMPANY}


def test_the_repairs_system_finds_her_only_by_customer_number(demo):
    assert find("repairs", EMAIL, PHONE, NAME_COMPANY).matches == []
    lookup = find("repairs", CUSTOMER_NUMBER)
    assert [match.found_by for match in lookup.matches] == [CUSTOMER_NUMBER]


def test_the_support_desk_finds_her_only_by_phone(desk):
    assert find("supportdesk", EMAIL).matches == []
    lookup = find("supportdesk", EMAIL, PHONE)
    assert [match.found_by for match in lookup.matches] == [PHONE]
    assert lookup.learnt() == {PHONE}  # the desk holds no e-mail for her


def test_the_attendee_lists_find_her_only_by_name_and_company(demo):
    assert find("events", EMAIL, PHONE).matches == []
    lookup = find("events", NAME_COMPANY)
    assert [match.found_by for match in lookup.matches] == [NAME_COMPANY]


def test_she_is_not_in_the_prospect_lists(demo):
    lookup = find("prospects", EMAIL, PHONE, CUSTOMER_NUMBER, NAME_COMPANY)
    assert lookup.matches == [] and lookup.ambiguous == []


def test_following_what_each_system_teaches_finds_her_in_four_systems(desk):
    """The identity graph: start from the e-mail, search every system with everything known,
    until nothing new is learnt."""
    known, found = {EMAIL}, {}
    while True:
        before = set(known)
        for source in SourceSystem.objects.order_by("slug"):
            with connector_for(source) as connector:
                lookup = connector.find_subject(sorted(known))
            for match in lookup.matches:
                found.setdefault(source.slug, match.found_by.kind)  # what found it first
            known |= lookup.learnt()
        if known == before:
            break
    assert found == {
        "crm": "email", "repairs": "customer_number", "supportdesk": "phone",
        "events": "name_company",
    }  # fmt: skip
    assert known == {EMAIL, CUSTOMER_NUMBER, PHONE, NAME_COMPANY}


def test_the_switchboard_phone_is_ambiguous_in_the_support_desk(desk):
    switchboard = Identifier("phone", SWITCHBOARD_PHONE)
    lookup = find("supportdesk", switchboard)
    assert lookup.matches == []
    assert [(a.identifier, a.matches) for a in lookup.ambiguous] == [(switchboard, 2)]
    # The CRM has one person with it (who gave the office number); the desk knows her by e-mail.
    crm = find("crm", switchboard)
    assert len(crm.matches) == 1
    email = next(i for i in crm.learnt() if i.kind == "email")
    assert len(find("supportdesk", email).matches) == 1


@pytest.mark.parametrize(
    ("slug", "identifier"),
    [("crm", EMAIL), ("repairs", CUSTOMER_NUMBER), ("events", NAME_COMPANY)],
)
def test_her_records_come_out_by_category(demo, slug, identifier):
    assert by_category(export(slug, identifier)) == ARTA_RECORDS[slug]


def test_her_support_desk_records_come_out_by_category(desk):
    records = export("supportdesk", PHONE)
    assert by_category(records) == ARTA_RECORDS["supportdesk"]
    assert {r.data["subject"] for r in records if r.source.endswith("/tickets")} == {
        "Paper jam in tray 2", "Driver for Windows 11", "Error code on display",
    }  # fmt: skip


def test_her_support_desk_customer_record_is_exported(desk):
    (profile,) = [r for r in export("supportdesk", PHONE) if r.source.endswith("{subject_key}")]
    assert profile.category == "customer_enquiries"
    assert profile.data["name"] == ARTA.full_name
    assert profile.data["company"] == ARTA.company
    assert set(profile.data) == {"name", "phone", "email", "company"}


def test_her_crm_records_are_erased_children_first_without_anything_by_hand(demo, var_dir):
    changes, outcomes = fulfil("crm", EMAIL, Intent.ERASE)
    assert not [change for change in changes if change.manual]
    order = [change.target for change in changes]
    assert order.index("order_lines") < order.index("orders")
    assert outcomes["web_events"] and set(outcomes["web_events"].values()) == {Outcome.DONE}
    assert find("crm", EMAIL).matches == []  # the address is hashed, the rest gone
    with closing(sqlite3.connect(var_dir / "demo" / "crm.sqlite3")) as crm:
        (name, email) = crm.execute(
            "SELECT full_name, email FROM accounts WHERE customer_no = ?", [ARTA.customer_no]
        ).fetchone()
    assert name == "[erased]" and email.startswith("sha256:")


def test_her_objection_ends_her_subscription_and_lists_her_address_once(demo, var_dir):
    identifiers = {"email": EMAIL.value}
    changes, outcomes = fulfil("crm", EMAIL, Intent.STOP_MARKETING, identifiers=identifiers)
    assert [(c.target, c.strategy) for c in changes] == [
        ("marketing_subscriptions", Strategy.STOP_MARKETING),
        ("marketing_suppressions", Strategy.SUPPRESS),
    ]
    assert set(outcomes["marketing_suppressions"].values()) == {Outcome.DONE}
    _changes, again = fulfil("crm", EMAIL, Intent.STOP_MARKETING, identifiers=identifiers)
    assert {o for per_key in again.values() for o in per_key.values()} == {Outcome.ALREADY_DONE}
    with closing(sqlite3.connect(var_dir / "demo" / "crm.sqlite3")) as crm:
        listed = crm.execute(
            "SELECT count(*) FROM marketing_suppressions WHERE email = ?", [ARTA.email]
        ).fetchone()[0]
    assert listed == 1


def test_her_repairs_are_restricted_and_rectified_in_place(demo, var_dir):
    changes, outcomes = fulfil("repairs", CUSTOMER_NUMBER, Intent.RESTRICT)
    assert not [change for change in changes if change.manual]
    assert {o for per_key in outcomes.values() for o in per_key.values()} == {Outcome.DONE}
    _changes, outcomes = fulfil(
        "repairs", CUSTOMER_NUMBER, Intent.RECTIFY, corrections={"contact_name": "Arta Hoxha"}
    )
    assert outcomes == {"customers": {f"customers:{ARTA.customer_no}": Outcome.DONE}}


def test_her_returned_repairs_are_not_active_and_are_dated_by_their_arrival(demo):
    with connector_for(system("repairs")) as connector:
        (match,) = connector.find_subject([CUSTOMER_NUMBER]).matches
        refs = [
            RecordRef(r.source, r.key) for r in connector.export(match) if r.source == "repairs"
        ]
        facts = connector.describe_records(refs)
    assert sorted((f.active, f.dated.isoformat()) for f in facts.values()) == [
        (False, "2023-09-04"),
        (False, "2025-02-17"),
    ]


def test_a_registration_shows_its_events_title_not_its_id(demo, var_dir):
    registration = next(r for r in export("crm", EMAIL) if r.source == "registrations")
    assert "event_id" not in registration.data
    with closing(sqlite3.connect(var_dir / "demo" / "crm.sqlite3")) as conn:
        titles = {title for (title,) in conn.execute("SELECT title FROM events")}
    assert registration.data["event"] in titles


def test_her_records_carry_what_the_statement_describes(demo):
    records = export("crm", EMAIL)
    registration = next(r for r in records if r.source == "registrations")
    assert registration.category == "events"
    assert registration.data["dietary_needs"] == "halal"
    assert registration.data["emergency_contact_name"] == "Besnik Krasniqi"
    assert Counter(r.source for r in records)["web_events"] == 30
    account = next(r for r in records if r.source == "accounts" and r.category == "online_account")
    assert account.data["phone"] == ARTA.phone and account.data["position"] == ARTA.position
    (attendee,) = export("events", NAME_COMPANY)
    assert attendee.data["Email"] == "" and attendee.data["Dietary needs"] == "halal"


# --- volume, realism and idempotency ----------------------------------------------------------


def test_the_data_is_realistic_and_its_identifiers_are_shared_unevenly(demo, var_dir):
    counts = demo_counts(var_dir)
    rows = sum(v for k, v in counts.items() if not k.endswith(("demo_meta", ".events")))
    assert 8 <= rows / 31 <= 30  # about 15 rows a subject
    with closing(sqlite3.connect(var_dir / "demo" / "crm.sqlite3")) as crm:
        phones = [p for (p,) in crm.execute("SELECT phone FROM accounts")]
        names = [n for (n,) in crm.execute("SELECT full_name FROM accounts")]
        emails = [e for (e,) in crm.execute("SELECT email FROM accounts")]
    assert all(re.fullmatch(r"\+355\d{8,9}", phone) for phone in phones)  # stored normalised
    assert len(set(emails)) == len(emails)
    assert any(name.split()[-1] in ALBANIAN_LAST_NAMES for name in names[1:])
    assert any(name.split()[-1] not in ALBANIAN_LAST_NAMES for name in names[1:])
    with closing(sqlite3.connect(var_dir / "demo" / "supportdesk.sqlite3")) as desk:
        with_email, customers = desk.execute(
            "SELECT sum(email != ''), count(*) FROM customers"
        ).fetchone()
    assert 0 < with_email < customers  # the desk has e-mails for some only
    with closing(sqlite3.connect(var_dir / "demo" / "repairs.sqlite3")) as repairs:
        columns = {row[1] for row in repairs.execute("PRAGMA table_info(customers)")}
    # no e-mail; a restriction flag (Art. 18)
    assert columns == {"customer_no", "company", "contact_name", "created_at", "restricted"}
    with open(var_dir / "demo" / "events" / "tirana-print-summit-2024.csv", encoding="utf-8") as f:
        attendees = list(csv.DictReader(f))
    assert sum(1 for a in attendees if not a["Email"]) > len(attendees) / 2


def test_the_same_seed_gives_the_same_demo(db, settings, tmp_path):
    dumps = []
    for run in ("one", "two"):
        settings.VAR_DIR = tmp_path / run
        load_demo("--subjects", "20", "--seed", "7", "--backend", "sqlite")
        with closing(sqlite3.connect(tmp_path / run / "demo" / "crm.sqlite3")) as conn:
            dumps.append(list(conn.execute("SELECT * FROM accounts ORDER BY id")))
    assert dumps[0] == dumps[1]


def test_a_second_run_without_reset_changes_nothing(demo, var_dir):
    before = demo_counts(var_dir)
    output = load_demo("--subjects", "30", "--backend", "sqlite")
    assert "already loaded (30 subjects, seed 42" in output
    assert demo_counts(var_dir) == before
    assert SourceSystem.objects.count() == 5
    assert by_category(export("crm", EMAIL)) == ARTA_RECORDS["crm"]


def test_a_demo_of_an_earlier_version_is_built_again(demo, var_dir):
    with closing(sqlite3.connect(var_dir / "demo" / "crm.sqlite3")) as crm, crm:
        crm.execute("UPDATE demo_meta SET value = '1' WHERE key = 'version'")
    output = load_demo("--subjects", "30", "--backend", "sqlite")
    assert "already loaded" not in output
    assert check_system(system("crm")) == []


def test_loading_the_register_and_the_demo_again_writes_no_audit_event(demo, var_dir):
    # What every start of `make run` does: the register, then the demo.
    assert AuditEvent.objects.filter(action="register.sourcesystem.created").count() == 5
    before = AuditEvent.objects.count()
    call_command("load_data_map", verbosity=0)
    output = load_demo("--subjects", "30", "--backend", "sqlite")
    assert AuditEvent.objects.count() == before
    assert "CRM and customer portal (unchanged)" in output


def test_loading_the_demo_again_restores_an_edited_system_with_one_audit_event(demo, var_dir):
    SourceSystem.objects.filter(slug="events").update(description="edited by hand")
    last = AuditEvent.objects.order_by("pk").last().pk
    output = load_demo("--subjects", "30", "--backend", "sqlite")
    events = next(spec for spec in SYSTEMS if spec.slug == "events")
    assert system("events").description == events.description
    assert "Event attendee lists (updated)" in output
    written = AuditEvent.objects.filter(pk__gt=last)
    assert [(e.action, e.details["pk"]) for e in written] == [
        ("register.sourcesystem.changed", system("events").pk)
    ]


def test_reset_builds_it_again(demo, var_dir):
    load_demo("--subjects", "12", "--backend", "sqlite", "--reset")
    assert demo_counts(var_dir)["crm.accounts"] == 13  # 12 and Arta
    assert by_category(export("crm", EMAIL)) == ARTA_RECORDS["crm"]


def test_a_heavy_subject_gets_that_many_web_events(db, var_dir):
    output = load_demo(
        "--subjects", "5", "--backend", "sqlite", "--heavy", "bench@demo.example:2000"
    )
    assert "web_events 2," in output
    records = export("crm", Identifier("email", "bench@demo.example"))
    assert Counter(record.source for record in records)["web_events"] == 2000


@pytest.mark.parametrize("value", ["bench@demo.example", "nobody:10", "bench@demo.example:many"])
def test_it_refuses_a_malformed_heavy_subject(db, var_dir, value):
    with pytest.raises(CommandError):
        load_demo("--backend", "sqlite", "--heavy", value)


def test_a_password_keeps_the_database_url_out_of_the_configuration():
    server = PostgresServer(
        {"NAME": "dsar", "USER": "dsar", "PASSWORD": "s3cret", "HOST": "db", "PORT": "5432"}
    )
    assert server.url("dsar_demo_crm") == "postgresql+psycopg://dsar@db:5432/dsar_demo_crm"
    crm = next(spec for spec in SYSTEMS if spec.slug == "crm")
    config = system_config(crm, var_dir=Path("/v"), port=1, urls={}, url_env=True)
    assert config == {"mapping_file": "dsar/data/demo/crm.yaml", "url_env": "DSAR_DEMO_CRM_URL"}
    assert validate_system("sql", config) == []


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture
def postgres_demo(db, var_dir):
    if not django_settings.DATABASE_IS_POSTGRES:
        service_missing("PostgreSQL (set DATABASE_URL) for the PostgreSQL demo")
    try:
        yield load_demo("--subjects", "30", "--backend", "postgresql", "--reset")
    finally:
        drop_postgres_databases()


@pytest.mark.services
def test_on_postgresql_it_loads_databases_beside_the_default_one(postgres_demo, var_dir):
    names = postgres_names()
    assert "PostgreSQL database " + names["crm"] in postgres_demo
    for slug in ("crm", "repairs"):
        config = system(slug).config
        assert config["url"].startswith("postgresql+psycopg://")
        assert config["url"].endswith("/" + names[slug])
        assert check_system(system(slug)) == []
    lookup = find("crm", EMAIL)
    assert lookup.learnt() == {EMAIL, CUSTOMER_NUMBER, PHONE, NAME_COMPANY}
    assert by_category(export("crm", EMAIL)) == ARTA_RECORDS["crm"]
    assert by_category(export("repairs", CUSTOMER_NUMBER)) == ARTA_RECORDS["repairs"]
    assert by_category(export("events", NAME_COMPANY)) == ARTA_RECORDS["events"]
    assert find("prospects", EMAIL, NAME_COMPANY).matches == []
    server = PostgresServer(connection.settings_dict)
    with server.connect(names["crm"]) as conn:
        indexes = {name for (name,) in conn.execute("SELECT indexname FROM pg_indexes")}
    assert {
        "accounts_pkey", "accounts_lower_email_idx", "accounts_phone_idx",
        "accounts_customer_no_idx", "accounts_lower_full_name_lower_company_idx",
        "web_events_account_id_id_idx", "order_lines_order_id_id_idx",
    } <= indexes  # fmt: skip
    # The suppression list numbers the rows it gains after loading.
    _changes, outcomes = fulfil(
        "crm", EMAIL, Intent.STOP_MARKETING, identifiers={"email": EMAIL.value}
    )
    assert set(outcomes["marketing_suppressions"].values()) == {Outcome.DONE}
    again = load_demo("--subjects", "30", "--backend", "postgresql")
    assert "already loaded (30 subjects" in again
    assert by_category(export("crm", EMAIL)) == ARTA_RECORDS["crm"]
