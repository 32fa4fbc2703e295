"""The ZIP bundle: its files, the manifest, streaming to an unseekable sink, the encrypted ZIP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tracemalloc
import zipfile

import jsonschema
import pytest
import pyzipper

from exporters import bundle as bundle_module
from exporters.bundle import (
    PASSPHRASE_ALPHABET,
    BundleError,
    new_passphrase,
    write_bundle,
    write_encrypted_zip,
)
from exporters.context import normalise_record
from exporters.report import render_report

from .conftest import LONG, REFERENCE, make_facts, pdf_pages, records_from, sample_records
from .test_formats import expected_rows


class UnseekableSink:
    """Like an encrypting stream: it can be written to and nothing else."""

    def __init__(self):
        self._buffer = io.BytesIO()
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        return self._buffer.write(data)

    def tell(self) -> int:
        return self._buffer.tell()

    def content(self) -> bytes:
        return self._buffer.getvalue()


class CountingSink:
    """Keeps nothing: counts and hashes what it is given."""

    def __init__(self):
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.sha256.update(data)
        return len(data)


def build(language="en", kind="access", *, failed=False, records=None):
    sink = UnseekableSink()
    facts = make_facts(language, kind, failed=failed)
    manifest = write_bundle(sink, facts, records_from(records or sample_records()), kind=kind)
    return zipfile.ZipFile(io.BytesIO(sink.content())), manifest


@pytest.fixture(scope="module")
def access_bundle():
    return build("en", "access", failed=True)


@pytest.fixture(scope="module")
def portability_bundle():
    return build("sq", "portability")


def test_access_bundle_holds_report_data_and_manifest(access_bundle):
    zf, _manifest = access_bundle
    assert zf.testzip() is None
    assert set(zf.namelist()) == {
        "report.pdf",
        "data/online_account/crm-accounts.json",  # one file per source table and format
        "data/online_account/crm-accounts.csv",
        "data/online_account/web-portal.json",
        "data/online_account/web-portal.csv",
        "data/browsing/web-analytics.json",
        "data/browsing/web-analytics.csv",
        "data/prospects/lead-lists.json",  # access covers every source, third parties too
        "data/prospects/lead-lists.csv",
        "manifest.json",
    }
    assert zf.namelist()[-1] == "manifest.json"
    assert zf.read("report.pdf").startswith(b"%PDF-")


def test_manifest_hashes_and_sizes_match_the_files(access_bundle, portability_bundle):
    for zf, manifest in (access_bundle, portability_bundle):
        listed = json.loads(zf.read("manifest.json"))
        names = [entry["name"] for entry in listed["files"]]
        assert sorted(names) == sorted(n for n in zf.namelist() if n != "manifest.json")
        for entry in listed["files"]:
            content = zf.read(entry["name"])
            assert entry["size"] == len(content) == zf.getinfo(entry["name"]).file_size
            assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        own = zf.read("manifest.json")
        assert manifest.sha256 == hashlib.sha256(own).hexdigest()
        assert manifest.size == len(own)


def test_manifest_says_what_the_bundle_is(access_bundle):
    zf, manifest = access_bundle
    listed = json.loads(zf.read("manifest.json"))
    assert listed["format"] == "dsar-bundle" and listed["format_version"] == 2
    assert listed["reference"] == REFERENCE
    assert listed["kind"] == "access"
    assert listed["generated_at"] == "2026-11-20T09:30:00+00:00"
    assert listed["generator"] == "dsar-exporters test"
    assert listed["complete"] is False
    assert listed["failed_sources"] == ["Support desk (tickets)"]
    categories = {c["slug"]: c for c in listed["categories"]}
    assert categories["online_account"]["records"] == 3
    assert categories["browsing"]["records"] == 13
    assert categories["legal"]["records"] == 0 and categories["legal"]["files"] == []
    assert categories["online_account"]["tables"] == [
        {
            "system": "crm accounts",
            "table": "",
            "records": 2,
            "files": [
                "data/online_account/crm-accounts.json",
                "data/online_account/crm-accounts.csv",
            ],
        },
        {
            "system": "web portal",
            "table": "",
            "records": 1,
            "files": ["data/online_account/web-portal.json", "data/online_account/web-portal.csv"],
        },
    ]
    assert categories["payments"]["held"] is False and categories["payments"]["records"] is None
    assert listed["total_records"] == 17 == manifest.total_records
    assert manifest.file("data/browsing/web-analytics.csv").media_type == "text/csv"


def test_portability_bundle_has_provided_and_observed_data_and_a_schema_each(portability_bundle):
    zf, manifest = portability_bundle
    assert set(zf.namelist()) == {
        "data/online_account/crm-accounts.json",
        "data/online_account/crm-accounts.csv",
        "schema/online_account/crm-accounts.schema.json",
        "data/online_account/web-portal.json",
        "data/online_account/web-portal.csv",
        "schema/online_account/web-portal.schema.json",
        "data/browsing/web-analytics.json",
        "data/browsing/web-analytics.csv",
        "schema/browsing/web-analytics.schema.json",
        "manifest.json",
    }
    categories = {c.slug: c for c in manifest.categories}
    assert categories["prospects"].included is False  # from a third party: not portable
    assert categories["prospects"].records is None


def test_every_json_file_in_the_bundle_validates_against_its_schema(portability_bundle):
    zf, _manifest = portability_bundle
    for name in (
        "online_account/crm-accounts",
        "online_account/web-portal",
        "browsing/web-analytics",
    ):
        schema = json.loads(zf.read(f"schema/{name}.schema.json"))
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(json.loads(zf.read(f"data/{name}.json")))


def test_data_files_in_the_bundle_hold_every_record_in_full(access_bundle):
    zf, _manifest = access_bundle
    records = sample_records()
    for slug, stem, source in (
        ("online_account", "crm-accounts", "crm accounts"),
        ("online_account", "web-portal", "web portal"),
        ("browsing", "web-analytics", "web analytics"),
        ("prospects", "lead-lists", "lead lists"),
    ):
        table = [r for r in records[slug] if r["source"] == source]
        assert json.loads(zf.read(f"data/{slug}/{stem}.json")) == [
            normalise_record(r) for r in table
        ]
        text = zf.read(f"data/{slug}/{stem}.csv").decode("utf-8")
        assert list(csv.DictReader(io.StringIO(text, newline=""))) == expected_rows(table)[1]
    assert LONG in zf.read("data/browsing/web-analytics.json").decode("utf-8")


def test_the_report_in_the_bundle_states_the_counts(access_bundle):
    zf, _manifest = access_bundle
    text = " ".join("\n".join(pdf_pages(zf.read("report.pdf"))).split())
    assert "13 records. Shown here" not in text  # all 13 are shown
    assert "We found 17 records about you." in text
    assert "This answer is not complete" in text


def test_entries_are_written_streaming_with_data_descriptors(access_bundle):
    zf, _manifest = access_bundle
    for info in zf.infolist():
        assert info.flag_bits & 0x08, info.filename  # sizes and CRC after the data
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.date_time == (2026, 11, 20, 10, 30, 0)  # generated_at, in Tirana


def test_the_sink_needs_only_write():
    class WriteOnly:
        def __init__(self):
            self.chunks = []

        def write(self, data):
            self.chunks.append(bytes(data))

    sink = WriteOnly()
    write_bundle(sink, make_facts("en", "portability"), records_from(sample_records()))
    assert zipfile.ZipFile(io.BytesIO(b"".join(sink.chunks))).testzip() is None


def test_records_that_change_between_passes_fail_the_bundle(monkeypatch):
    # Tables too big to keep from the first pass are read again for each file.
    monkeypatch.setattr(bundle_module, "KEEP_RECORDS", 0)
    calls = {"n": 0}

    def records_by_category(slug):
        if slug != "browsing":
            return
        calls["n"] += 1
        for i in range(3 + calls["n"]):  # one more record on every pass
            yield {"source": "s", "key": str(i), "found_by": "e", "data": {"i": i}}

    with pytest.raises(BundleError, match="changed"):
        write_bundle(CountingSink(), make_facts("en", "portability"), records_by_category)


def test_an_access_bundle_reads_a_small_category_once():
    calls: dict[str, int] = {}
    records = sample_records()

    def records_by_category(slug):
        calls[slug] = calls.get(slug, 0) + 1
        yield from records.get(slug, [])

    manifest = write_bundle(CountingSink(), make_facts("en"), records_by_category)
    assert manifest.file("report.pdf").size > 0
    assert calls and set(calls.values()) == {1}  # the data files and the report from one pass


def test_kind_must_be_access_or_portability():
    with pytest.raises(ValueError, match="kind"):
        write_bundle(CountingSink(), make_facts(), records_from({}), kind="erasure")


def test_streaming_200000_records_keeps_memory_flat(settings):
    """The records are generated lazily and never held: the peak stays far below the size of
    the data (about 13 MB as JSON alone, more as Python objects)."""
    settings.DSAR_REPORT_MAX_ROWS = 50
    facts = make_facts("en", "access")
    facts = type(facts)(**{**facts.__dict__, "categories": [facts.category("browsing")]})

    def records_by_category(slug):
        for i in range(200_000):
            yield {
                "source": "web analytics",
                "key": str(i),
                "found_by": "cookie_id",
                "data": {"page": f"/products/{i}", "n": i},
            }

    render_report(facts, records_from({}))  # WeasyPrint's caches (fonts, styles) are not ours
    sink = CountingSink()
    tracemalloc.start()
    try:
        manifest = write_bundle(sink, facts, records_by_category)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert manifest.categories[0].records == 200_000
    assert manifest.file("data/browsing/web-analytics.json").size > 10_000_000
    assert sink.size > 1_000_000
    assert peak < 30 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


# --- on a medium ----------------------------------------------------------------------------------


def test_encrypted_zip_opens_with_its_passphrase_only(tmp_path):
    path = tmp_path / "bundle.zip"
    facts = make_facts("en", "access")
    passphrase = write_encrypted_zip(path, facts, records_from(sample_records()))
    with pyzipper.AESZipFile(path) as zf:
        assert zf.namelist()[-1] == "manifest.json"
        info = zf.getinfo("manifest.json")
        assert info.flag_bits & 0x1  # encrypted
        with pytest.raises(RuntimeError, match="requires a password"):
            zf.read("manifest.json")
        with pytest.raises(RuntimeError, match="Bad password"):
            zf.read("manifest.json", pwd=b"wrong-passphrase-wrong-passphrase")
        zf.setpassword(passphrase.encode())
        manifest = json.loads(zf.read("manifest.json"))
        for entry in manifest["files"]:
            assert hashlib.sha256(zf.read(entry["name"])).hexdigest() == entry["sha256"]
        assert zf.read("report.pdf").startswith(b"%PDF-")
    with zipfile.ZipFile(path) as plain:
        assert plain.getinfo("report.pdf").compress_type == 99  # WinZip AES
        with pytest.raises((RuntimeError, NotImplementedError)):  # no AES in the standard library
            plain.read("report.pdf", pwd=passphrase.encode())
    assert b"Arta Krasniqi" not in path.read_bytes()


def test_encrypted_zip_has_the_same_content_as_the_bundle(tmp_path, access_bundle):
    path = tmp_path / "bundle.zip"
    passphrase = write_encrypted_zip(
        path, make_facts("en", failed=True), records_from(sample_records())
    )
    zf, _manifest = access_bundle
    with pyzipper.AESZipFile(path) as encrypted:
        encrypted.setpassword(passphrase.encode())
        assert encrypted.namelist() == zf.namelist()
        for name in zf.namelist():
            if name not in ("report.pdf", "manifest.json"):  # PDFs carry their own creation id
                assert encrypted.read(name) == zf.read(name), name


def test_passphrases_are_long_random_and_unambiguous():
    phrases = {new_passphrase() for _ in range(50)}
    assert len(phrases) == 50
    for phrase in phrases:
        assert re.fullmatch(r"([a-z2-9]{4}-){5}[a-z2-9]{4}", phrase)
        letters = phrase.replace("-", "")
        assert len(letters) >= 24 and set(letters) <= set(PASSPHRASE_ALPHABET)
        assert not set(letters) & set("01lo")
