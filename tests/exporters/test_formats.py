"""The per-category formats: JSON, CSV (spreadsheet-safe) and the JSON Schema; the registry."""

from __future__ import annotations

import csv
import io
import json

import jsonschema
import pytest
from django.core.exceptions import ImproperlyConfigured

from exporters import registry
from exporters.base import BaseExporter, ExportStats, text_writer
from exporters.context import (
    REDACTED,
    CategoryRecords,
    ColumnInfo,
    SourceTable,
    normalise_record,
)
from exporters.formats import (
    CsvExporter,
    JsonExporter,
    JsonSchemaExporter,
    csv_cell,
    csv_columns,
    neutralise,
)

from .conftest import ARABIC, BINARY, EMOJI, HEBREW, LONG, LONG_WORD, SCRIPT, make_facts

csv.field_size_limit(10_000_000)


def export(exporter, slug, records_by_category, facts=None) -> tuple[bytes, ExportStats]:
    facts = facts or make_facts()
    out = io.BytesIO()
    stats = exporter.write(
        out, facts, facts.category(slug), CategoryRecords(records_by_category, slug)
    )
    return out.getvalue(), stats


def expected_rows(records):
    """What csv.DictReader must read back for these records."""
    normalised = [normalise_record(r) for r in records]
    keys = list(dict.fromkeys(k for r in normalised for k in r["data"]))
    columns = csv_columns(keys)
    rows = []
    for record in normalised:
        row = {}
        for header, key in columns:
            if key is None:
                row[header] = neutralise(record[header])
            else:
                row[header] = csv_cell(record["data"][key]) if key in record["data"] else ""
        rows.append(row)
    return columns, rows


# --- JSON -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["online_account", "browsing", "prospects", "legal"])
def test_json_file_holds_exactly_the_records(slug, records, records_by_category):
    content, stats = export(JsonExporter(), slug, records_by_category)
    assert json.loads(content) == [normalise_record(r) for r in records[slug]]
    assert stats.records == len(records[slug])


def test_json_keeps_odd_characters_readable(records_by_category):
    content, _stats = export(JsonExporter(), "online_account", records_by_category)
    text = content.decode("utf-8")
    for value in (EMOJI, "ë ç Ë Ç", HEBREW, ARABIC, SCRIPT):
        assert value in text  # not \\u-escaped: a subject can read the file
    assert json.loads(content)[2]["data"]["photo"] == BINARY


def test_json_of_a_category_without_records_is_an_empty_array(records_by_category):
    content, stats = export(JsonExporter(), "legal", records_by_category)
    assert json.loads(content) == []
    assert stats.records == 0


def test_json_streams_from_a_generator_without_building_a_list():
    seen = []

    def records_by_category(slug):
        for i in range(5):
            seen.append(i)
            yield {"source": "s", "key": str(i), "found_by": "email", "data": {"i": i}}

    content, stats = export(JsonExporter(), "browsing", records_by_category)
    assert [r["data"]["i"] for r in json.loads(content)] == [0, 1, 2, 3, 4]
    assert stats.records == 5


def test_values_outside_the_contract_are_made_plain():
    import datetime as dt
    import decimal
    import uuid

    record = normalise_record(
        {
            "source": "erp",
            "key": 7,
            "found_by": None,
            "data": {
                "when": dt.date(2026, 1, 2),
                "amount": decimal.Decimal("12.50"),
                "id": uuid.UUID(int=1),
                "nan": float("nan"),
                "blob": b"\x00\x01",
                "tags": ("a", "b"),
                3: "int key",
            },
        }
    )
    assert record["key"] == "7" and record["found_by"] == ""
    data = record["data"]
    assert data["when"] == "2026-01-02"
    assert data["amount"] == "12.50"
    assert data["id"] == "00000000-0000-0000-0000-000000000001"
    assert data["nan"] == "nan"
    assert data["blob"]["binary"] == 2 and len(data["blob"]["sha256"]) == 64
    assert data["tags"] == ["a", "b"]
    assert data["3"] == "int key"
    json.dumps(record, allow_nan=False)


# --- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["online_account", "browsing", "prospects"])
def test_csv_round_trips_through_a_dict_reader(slug, records, records_by_category):
    content, stats = export(CsvExporter(), slug, records_by_category)
    reader = csv.DictReader(io.StringIO(content.decode("utf-8"), newline=""))
    columns, rows = expected_rows(records[slug])
    assert reader.fieldnames == [neutralise(header) for header, _key in columns]
    assert list(reader) == rows
    assert stats.records == len(records[slug])


def test_csv_columns_are_the_union_of_all_records_fields(records_by_category):
    content, _stats = export(CsvExporter(), "online_account", records_by_category)
    header = next(csv.reader(io.StringIO(content.decode("utf-8"))))
    # "phone" appears in the second record only, "photo" and others in the third.
    assert header[:3] == ["source", "key", "found_by"]
    assert {"full_name", "phone", "photo", "preferences", "logins", "deleted"} <= set(header)


def test_csv_neutralises_formulas(records_by_category):
    content, _stats = export(CsvExporter(), "online_account", records_by_category)
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))
    formula = rows[1]
    assert formula["full_name"] == '\'=HYPERLINK("http://evil.example")'
    assert formula["job_title"] == "'+1 formula"
    assert formula["business_email"] == "'-cmd"
    assert formula["note"] == "'@SUM(A1:A2)"
    assert formula["city"] == "'\tTabbed"
    assert formula["phone"] == "'\rcarriage"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_header_is_neutralised_too():
    def records_by_category(slug):
        yield {"source": "s", "key": "1", "found_by": "email", "data": {"=cmd|' /C calc'!A0": 1}}

    content, _stats = export(CsvExporter(), "browsing", records_by_category)
    assert next(csv.reader(io.StringIO(content.decode("utf-8"))))[3] == "'=cmd|' /C calc'!A0"


def test_csv_flattens_nested_values_binary_and_scalars(records_by_category):
    content, _stats = export(CsvExporter(), "online_account", records_by_category)
    row = list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))[2]
    assert json.loads(row["preferences"]) == {
        "newsletter": True,
        "languages": ["sq", "en"],
        "score": 4.5,
    }
    assert row["preferences"] == '{"newsletter":true,"languages":["sq","en"],"score":4.5}'
    assert row["photo"] == f"<binary: 48213 bytes, sha256 {BINARY['sha256']}>"
    assert row["logins"] == "17"
    assert row["verified"] == "false"
    assert row["deleted"] == ""
    assert row["full_name"] == f"Arta {EMOJI} ë ç Ë Ç"
    assert row["job_title"] == HEBREW
    assert row["business_email"] == ARABIC
    assert row["note"] == '<img src="file:///etc/passwd">'


def test_csv_keeps_very_long_values_whole(records_by_category):
    content, _stats = export(CsvExporter(), "browsing", records_by_category)
    row = list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))[-1]
    assert row["page"] == LONG
    assert row["search"] == LONG_WORD


def test_a_data_field_named_like_a_record_column_gets_its_own_column(records_by_category):
    content, _stats = export(CsvExporter(), "prospects", records_by_category)
    row = next(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))
    assert row["source"] == "lead lists"
    assert row["data.source"] == "fair 2025"


def test_csv_of_a_category_without_records_has_the_record_columns_only(records_by_category):
    content, stats = export(CsvExporter(), "legal", records_by_category)
    assert content.decode("utf-8") == "source,key,found_by\r\n"
    assert stats.records == 0


def test_csv_reads_the_category_twice_and_keeps_nothing_between():
    calls = []

    def records_by_category(slug):
        calls.append(slug)
        yield {"source": "s", "key": "1", "found_by": "email", "data": {"a": 1}}
        yield {"source": "s", "key": "2", "found_by": "email", "data": {"b": 2}}

    content, _stats = export(CsvExporter(), "browsing", records_by_category)
    assert calls == ["browsing", "browsing"]
    assert content.decode("utf-8").splitlines()[0] == "source,key,found_by,a,b"


def test_csv_refuses_a_one_shot_iterator():
    facts = make_facts()
    one_shot = iter([{"source": "s", "key": "1", "found_by": "e", "data": {}}])
    with pytest.raises(TypeError, match="re-iterable"):
        CsvExporter().write(io.BytesIO(), facts, facts.category("browsing"), one_shot)


def test_text_writer_replaces_lone_surrogates_instead_of_failing():
    out = io.BytesIO()
    with text_writer(out) as text:
        text.write("ok \ud800 ë")
    assert out.getvalue().decode("utf-8") == "ok ? ë"


# --- JSON Schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "sq"])
@pytest.mark.parametrize("slug", ["online_account", "browsing", "prospects", "legal"])
def test_every_json_file_validates_against_its_schema(language, slug, records_by_category):
    facts = make_facts(language, "portability")
    data, _stats = export(JsonExporter(), slug, records_by_category, facts)
    schema_bytes, _stats = export(JsonSchemaExporter(), slug, records_by_category, facts)
    schema = json.loads(schema_bytes)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(data))


def orders_table() -> SourceTable:
    """A source table as the bundle gets it: its columns as the register describes them."""
    return SourceTable(
        stem="crm-orders",
        system="CRM",
        place="orders",
        mapped=True,
        records=1,
        columns={
            "order_id": ColumnInfo(
                "Porosia", titles={"sq": "Porosia", "en": "Order"}, value_type="integer"
            ),
            "ordered_at": ColumnInfo(
                "Porositur më",
                titles={"sq": "Porositur më", "en": "Ordered on"},
                value_type="date-time",
            ),
            "total": ColumnInfo(
                "Shuma",
                currency="EUR",
                titles={"sq": "Shuma", "en": "Total"},
                value_type="decimal",
            ),
            "email": ColumnInfo(
                "Emaili",
                titles={"sq": "Emaili", "en": "E-mail"},
                value_type="string",
                value_format="email",
            ),
            "status": ColumnInfo(
                "Gjendja", titles={"sq": "Gjendja", "en": "Status"}, value_type="string"
            ),
        },
    )


def table_schema_of(table, language="sq"):
    facts = make_facts(language, "portability")
    out = io.BytesIO()
    JsonSchemaExporter().write(out, facts, facts.category("online_account"), [], table)
    return json.loads(out.getvalue())


def test_schema_comes_from_the_register_not_from_values():
    schema = table_schema_of(orders_table())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "2.1 Llogaria në internet: CRM (orders)"
    data = schema["$defs"]["record"]["properties"]["data"]
    assert list(data["properties"]) == ["order_id", "ordered_at", "total", "email", "status"]
    order_id = data["properties"]["order_id"]
    assert order_id["title"] == "Porosia"  # the subject's language
    assert order_id["x-title-sq"] == "Porosia" and order_id["x-title-en"] == "Order"
    assert order_id["anyOf"][0] == {"type": ["integer", "null"]}
    assert data["properties"]["ordered_at"]["anyOf"][0]["format"] == "date-time"
    total = data["properties"]["total"]
    assert total["x-currency"] == "EUR" and "EUR" in total["description"]
    assert data["properties"]["email"]["anyOf"][0]["format"] == "email"
    assert data["properties"]["status"]["type"] == ["string", "null"]
    assert data["additionalProperties"] is False  # the mapping named every column


def test_schema_accepts_the_tables_values_and_refuses_others():
    validator = jsonschema.Draft202012Validator(table_schema_of(orders_table()))
    data = {
        "order_id": 10,
        "ordered_at": "2024-11-05T11:30:00+01:00",
        "total": "1250.00",  # an exact amount as decimal text (PostgreSQL's numeric)
        "email": "arta@demo.example",
        "status": None,
    }
    good = {"source": "CRM: orders", "key": "orders:10", "found_by": "email", "data": data}
    validator.validate([good, {**good, "data": {**data, "total": 1250.0, "order_id": REDACTED}}])
    for wrong in (
        {**data, "order_id": "ten"},
        {**data, "total": "a lot"},
        {**data, "unknown": 1},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate([{**good, "data": wrong}])


def test_a_column_the_register_does_not_describe_is_left_open():
    table = orders_table()
    table.columns["note"] = None
    table.mapped = False
    data = table_schema_of(table, "en")["$defs"]["record"]["properties"]["data"]
    assert "type" not in data["properties"]["note"] and "anyOf" not in data["properties"]["note"]
    assert data["additionalProperties"] is True


def test_schema_texts_are_in_the_subjects_language(records_by_category):
    facts = make_facts("sq", "portability")
    schema = json.loads(export(JsonSchemaExporter(), "browsing", records_by_category, facts)[0])
    assert schema["title"] == "2.4.1 Të dhëna shfletimi, pajisjeje dhe ndërveprimi"
    record = schema["$defs"]["record"]["properties"]
    assert record["source"]["title"] == "Sistemi burimor"
    assert schema["$defs"]["binary"]["title"] == "Përmbajtje binare (përmbledhje)"


def test_a_category_without_a_table_gets_its_fields_by_name_without_guessed_types():
    def records_by_category(slug):
        yield {"source": "s", "key": "1", "found_by": "e", "data": {"v": 1}}
        yield {"source": "s", "key": "2", "found_by": "e", "data": {"v": "n/a"}}

    schema_bytes, stats = export(JsonSchemaExporter(), "browsing", records_by_category)
    v = json.loads(schema_bytes)["$defs"]["record"]["properties"]["data"]["properties"]["v"]
    assert stats.records == 2
    assert v == {"title": "v", "description": "Not described in our register of processing."}


# --- the registry ---------------------------------------------------------------------------------


class UpperTextExporter(BaseExporter):
    """A format added by configuration only."""

    identifier = "txt"
    verbose_name = "Text"
    extension = "txt"
    media_type = "text/plain"
    kinds = ("access",)

    def write(self, fileobj, facts, category, records, table=None):
        stats = ExportStats()
        for record in records:
            fileobj.write((json.dumps(record["data"]).upper() + "\n").encode())
            stats.records += 1
        return stats


def test_registry_defaults_to_json_csv_and_the_schema_for_portability():
    assert [e.identifier for e in registry.exporters_for("access")] == ["json", "csv"]
    assert [e.identifier for e in registry.exporters_for("portability")] == [
        "json",
        "csv",
        "jsonschema",
    ]
    assert registry.get_exporter("csv").filename(make_facts().category("legal")) == "data/legal.csv"
    assert (
        registry.get_exporter("jsonschema").filename(make_facts().category("legal"))
        == "schema/legal.schema.json"
    )


def test_a_new_format_is_one_class_and_one_setting(settings):
    settings.DSAR_EXPORTERS = [
        *registry.DEFAULT_EXPORTERS,
        "tests.exporters.test_formats.UpperTextExporter",
    ]
    assert [e.identifier for e in registry.exporters_for("access")] == ["json", "csv", "txt"]
    assert [e.identifier for e in registry.exporters_for("portability")] == [
        "json",
        "csv",
        "jsonschema",
    ]


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["exporters.formats.NoSuchExporter"], "cannot import"),
        (["exporters.context.BundleFacts"], "not a BaseExporter"),
        (["exporters.formats.JsonExporter", "exporters.formats.JsonExporter"], "two exporters"),
    ],
)
def test_a_bad_exporter_setting_fails_loudly(settings, paths, message):
    settings.DSAR_EXPORTERS = paths
    with pytest.raises(ImproperlyConfigured, match=message):
        registry.exporter_classes()
