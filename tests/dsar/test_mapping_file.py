"""`mapping_file` is one rule for every kind of connector: the YAML file's settings are merged
under the inline ones before the connector validates or reads them, and a file that cannot be
used is reported with the same message whichever kind names it, and wherever the configuration
is checked (the admin's validation, the connection check, building the connector)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from dsar.connectors.mapping import MappingFileError
from dsar.connectors.registry import check_system, connector_class, connector_for, validate_system
from dsar.demo.supportdesk import add_customers, add_tickets, create_database, serve
from dsar.identifiers import Identifier
from dsar.models import SourceSystem
from tests.casework.sources import write_csv

pytestmark = pytest.mark.django_db

ARTA = Identifier("email", "arta.krasniqi@demo.example")
DESK_TOKEN = "desk-token-for-mapping-tests-0123456789"


def write_mapping(base_dir: Path, name: str, settings: dict) -> str:
    """The settings as a YAML file under the project directory; its name relative to it."""
    path = base_dir / "mappings" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return f"mappings/{name}"


def make_system(kind: str, config: dict) -> SourceSystem:
    return SourceSystem.objects.create(name=kind.title(), slug=kind, connector=kind, config=config)


# --- one system of each kind, its settings in a mapping file ------------------------------------
# Each file also holds a wrong value for the key the system sets inline: the inline one must win.


def sql_config(tmp_path: Path) -> dict:
    database = tmp_path / "crm.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT, full_name TEXT)")
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, account_id INTEGER, total TEXT)")
        conn.execute("INSERT INTO accounts VALUES (1, ?, 'Arta Krasniqi')", (ARTA.value,))
        conn.execute("INSERT INTO orders VALUES (10, 1, '99.90')")
    conn.close()
    name = write_mapping(
        tmp_path,
        "crm.yaml",
        {
            "url": "sqlite:///no/such/database.sqlite3",
            "subject": {"table": "accounts", "key": "id", "identifiers": {"email": "email"}},
            "tables": {
                "accounts": {
                    "category": "online_account",
                    "key": "id",
                    "subject_column": "id",
                    "columns": {"full_name": {}},
                },
                "orders": {
                    "category": "purchases",
                    "key": "id",
                    "subject_column": "account_id",
                    "columns": {"total": {}},
                },
            },
        },
    )
    return {"mapping_file": name, "url": f"sqlite:///{database}"}


@pytest.fixture
def desk(tmp_path, monkeypatch):
    database = create_database(tmp_path / "desk.sqlite3")
    add_customers(
        database,
        [{"id": 1, "name": "Arta Krasniqi", "phone": "+355 69 123 4567", "email": ARTA.value,
          "company": "Demo Print shpk"}],
    )  # fmt: skip
    add_tickets(database, [{"customer_id": 1, "subject": "Printer jam", "status": "closed"}])
    monkeypatch.setenv("SUPPORTDESK_TOKEN", DESK_TOKEN)
    server, thread = serve("127.0.0.1", 0, database, DESK_TOKEN, faults=[])
    yield server
    server.stop()
    thread.join(timeout=5)


def http_config(tmp_path: Path, desk) -> dict:
    name = write_mapping(
        tmp_path,
        "supportdesk.yaml",
        {
            "base_url": "http://127.0.0.1:1",
            "auth": {"type": "bearer", "token_env": "SUPPORTDESK_TOKEN"},
            "lookup": {
                "path": "/api/customers",
                "params": {"{kind}": "{value}"},
                "identifiers": ["email", "phone"],
                "results": "items",
                "subject_key": "id",
                "identifier_fields": {"email": "email", "phone": "phone"},
            },
            "export": [
                {
                    "path": "/api/customers/{subject_key}/tickets",
                    "category": "customer_enquiries",
                    "results": "items",
                    "key": "id",
                    "paging": {"type": "cursor", "param": "cursor", "next": "next_cursor"},
                    "fields": ["subject", "status"],
                }
            ],
            "check": {"path": "/api/health"},
        },
    )
    return {"mapping_file": name, "base_url": desk.url}


def files_config(tmp_path: Path) -> dict:
    folder = tmp_path / "events"
    write_csv(
        folder / "fair.csv",
        [
            {"Email": ARTA.value, "Name": "Arta Krasniqi", "Diet": "vegetarian"},
            {"Email": "other@demo.example", "Name": "Other Person", "Diet": ""},
        ],
    )
    name = write_mapping(
        tmp_path,
        "events.yaml",
        {
            "folder": "no/such/folder",
            "category": "events",
            "identifiers": {"email": "Email"},
            "columns": ["Name", "Diet"],
        },
    )
    return {"mapping_file": name, "folder": str(folder)}


@pytest.fixture
def configured(tmp_path, settings, request):
    """(kind, config) of a system whose settings live in a mapping file."""
    settings.BASE_DIR = tmp_path
    settings.VAR_DIR = tmp_path / "var"
    kind = request.param
    if kind == "sql":
        return kind, sql_config(tmp_path)
    if kind == "http":
        return kind, http_config(tmp_path, request.getfixturevalue("desk"))
    return kind, files_config(tmp_path)


EXPECTED_RECORDS = {
    "sql": [
        ("online_account", {"full_name": "Arta Krasniqi"}),
        ("purchases", {"total": "99.90"}),
    ],
    "http": [("customer_enquiries", {"subject": "Printer jam", "status": "closed"})],
    "files": [("events", {"Name": "Arta Krasniqi", "Diet": "vegetarian"})],
}


@pytest.mark.parametrize("configured", ["sql", "http", "files"], indirect=True)
def test_every_kind_reads_its_settings_from_a_mapping_file(configured):
    kind, config = configured
    system = make_system(kind, config)
    assert validate_system(kind, config) == []
    assert check_system(system) == []
    with connector_for(system) as connector:
        assert "mapping_file" not in connector.config
        lookup = connector.find_subject([ARTA])
        (match,) = lookup.matches
        assert match.found_by == ARTA
        records = [(r.category, r.data) for r in connector.export(match)]
    assert records == EXPECTED_RECORDS[kind]


@pytest.mark.parametrize("configured", ["sql", "http", "files"], indirect=True)
def test_the_inline_keys_win_over_the_mapping_file(configured):
    kind, config = configured
    inline = {key: value for key, value in config.items() if key != "mapping_file"}
    with connector_class(kind)(config, name=kind) as connector:
        for key, value in inline.items():
            assert connector.config[key] == value


def test_a_manual_system_reads_its_instructions_from_a_mapping_file(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    name = write_mapping(tmp_path, "archive.yaml", {"instructions": "Search the paper archive."})
    connector = connector_class("manual")({"mapping_file": name, "category": "fulfilment"})
    assert connector.config == {
        "instructions": "Search the paper archive.",
        "category": "fulfilment",
    }


# --- a mapping file that cannot be used -------------------------------------------------------


def _missing(base_dir: Path) -> tuple[object, str]:
    return (
        "mappings/missing.yaml",
        "mapping_file: cannot read 'mappings/missing.yaml' (FileNotFoundError)",
    )


def _not_yaml(base_dir: Path) -> tuple[object, str]:
    name = "mappings/broken.yaml"
    (base_dir / name).write_text("subject: [unclosed\n", encoding="utf-8")
    return name, f"mapping_file: '{name}' is not valid YAML at line 2"


def _a_list(base_dir: Path) -> tuple[object, str]:
    name = "mappings/list.yaml"
    (base_dir / name).write_text("- a list\n", encoding="utf-8")
    return name, f"mapping_file: '{name}' must hold a mapping at its top level"


def _names_another(base_dir: Path) -> tuple[object, str]:
    name = "mappings/chained.yaml"
    (base_dir / name).write_text("mapping_file: other.yaml\n", encoding="utf-8")
    return name, f"mapping_file: '{name}' cannot name another mapping file"


def _not_a_path(base_dir: Path) -> tuple[object, str]:
    return 42, "mapping_file: must be a path (relative to the project or absolute)"


BAD_FILES = [_missing, _not_yaml, _a_list, _names_another, _not_a_path]


@pytest.mark.parametrize("kind", ["sql", "http", "files", "manual"])
@pytest.mark.parametrize("bad_file", BAD_FILES, ids=lambda f: f.__name__.strip("_"))
def test_a_bad_mapping_file_is_reported_the_same_for_every_kind(kind, bad_file, tmp_path, settings):
    settings.BASE_DIR = tmp_path
    (tmp_path / "mappings").mkdir()
    name, message = bad_file(tmp_path)
    config = {"mapping_file": name}
    assert validate_system(kind, config) == [message]
    assert connector_class(kind).validate_config(config) == [message]
    system = make_system(kind, config)
    assert check_system(system) == [message]
    with pytest.raises(MappingFileError) as caught:
        connector_for(system)
    assert str(caught.value) == message


@pytest.mark.parametrize("kind", ["sql", "http", "files"])
def test_a_null_mapping_file_means_no_file(kind):
    from dsar.connectors.mapping import merged_config

    assert merged_config({"mapping_file": None, "a": 1}) == {"a": 1}
    # Not an unknown key to the connector: the null is gone before it validates.
    problems = validate_system(kind, {"mapping_file": None})
    assert not [p for p in problems if "mapping_file" in p]
