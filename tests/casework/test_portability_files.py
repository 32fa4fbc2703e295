"""The demo persona's portability bundle (issue 13, point 4): a data file per source table whose
columns are its mapping's, and JSON Schemas written from the register's fields."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import defaultdict
from io import StringIO

import jsonschema
import pytest
import yaml
from django.core.management import call_command

from casework.selectors.bundles import bundle_facts
from dsar.connectors.registry import connector_for
from dsar.demo.loader import ARTA
from dsar.identifiers import Identifier
from dsar.models import SourceSystem
from exporters.bundle import write_bundle

# The demo systems that need no server (the support desk is an HTTP service).
SYSTEMS = ("crm", "repairs", "events")


@pytest.fixture
def bundle(db, settings, tmp_path, make_case):
    """Arta's portability bundle, from her records in the demo systems as exported."""
    settings.VAR_DIR = tmp_path
    call_command("load_demo", "--subjects", "5", "--backend", "sqlite", stdout=StringIO())
    records = defaultdict(list)
    identifiers = [
        Identifier("email", ARTA.email),
        Identifier("customer_number", ARTA.customer_no),
        Identifier("name_company", f"{ARTA.full_name}|{ARTA.company}"),
    ]
    for slug in SYSTEMS:
        system = SourceSystem.objects.get(slug=slug)
        with connector_for(system) as connector:
            for match in connector.find_subject(identifiers).matches:
                for record in connector.export(match):
                    records[record.category].append(
                        {
                            "source": f"{system.name}: {record.source}".rstrip(": "),
                            "key": record.key,
                            "found_by": "email",
                            "data": record.data,
                        }
                    )
    case = make_case(request_type="portability", language="sq")
    facts = bundle_facts(case, "portability")
    out = io.BytesIO()
    manifest = write_bundle(out, facts, lambda slug: iter(records[slug]), kind="portability")
    return zipfile.ZipFile(io.BytesIO(out.getvalue())), manifest


def crm_mapping() -> dict:
    with open("dsar/data/demo/crm.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_each_data_file_validates_against_its_own_schema(bundle):
    zf, manifest = bundle
    data_files = [n for n in zf.namelist() if n.startswith("data/") and n.endswith(".json")]
    assert "data/purchases/crm-orders.json" in data_files
    assert "data/purchases/crm-order_lines.json" in data_files
    for name in data_files:
        schema = json.loads(zf.read("schema/" + name[5:-5] + ".schema.json"))
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(json.loads(zf.read(name)))
    purchases = next(c for c in manifest.categories if c.slug == "purchases")
    assert [t.table for t in purchases.tables] == ["orders", "order_lines"]


def test_schemas_carry_both_languages_types_formats_and_currency(bundle):
    zf, _manifest = bundle
    schema = json.loads(zf.read("schema/purchases/crm-orders.schema.json"))
    properties = schema["$defs"]["record"]["properties"]["data"]["properties"]
    assert properties["order_no"]["title"] == "Numri i porosisë"  # the subject's language
    assert properties["order_no"]["x-title-en"] == "Order number"
    assert properties["ordered_at"]["anyOf"][0]["format"] == "date-time"
    assert properties["total"]["x-currency"] == "EUR"
    assert schema["$defs"]["record"]["properties"]["data"]["additionalProperties"] is False
    products = json.loads(
        zf.read("schema/products_usage_service_history/crm-product_registrations.schema.json")
    )
    purchase_date = products["$defs"]["record"]["properties"]["data"]["properties"]["purchase_date"]
    assert purchase_date["anyOf"][0] == {"type": ["string", "null"], "format": "date"}


def test_order_lines_carry_their_order(bundle):
    zf, _manifest = bundle
    orders = json.loads(zf.read("data/purchases/crm-orders.json"))
    lines = json.loads(zf.read("data/purchases/crm-order_lines.json"))
    assert lines
    order_ids = {o["data"]["id"] for o in orders}  # the same register field, order_id
    assert all(line["data"]["order_id"] in order_ids for line in lines)


def test_each_csv_header_is_its_tables_mapped_columns(bundle):
    zf, _manifest = bundle
    tables = crm_mapping()["tables"]
    for table, stem in (("orders", "crm-orders"), ("order_lines", "crm-order_lines")):
        header = next(csv.reader(io.StringIO(zf.read(f"data/purchases/{stem}.csv").decode())))
        columns = [c for c, o in tables[table]["columns"].items() if "category" not in (o or {})]
        if table == "order_lines":
            columns = ["order_id", *columns]  # the link to the order comes first
        assert header == ["source", "key", "found_by", *columns]
