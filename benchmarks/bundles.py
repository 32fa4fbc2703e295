"""Bundle benchmark (issue: export bundles). No servers needed: the exporters take plain data.

- the time to write an access bundle (report, JSON and CSV per category, manifest) of 100,000
  records to an unseekable sink (target < 5 s, issue 13);
- the peak RSS of a process writing an access bundle of 1,000,000 lazily generated records
  (target < 250 MB), measured in a child process so that nothing else counts;
- the render time of a 50-category report and its pages per second (target < 10 s).

Run: `python -c "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE',
'config.settings');django.setup();from benchmarks import bundles;bundles.main()"`.
Prints one JSON document. Sizes can be changed with DSAR_BENCH_BUNDLE_RECORDS and
DSAR_BENCH_BUNDLE_BIG_RECORDS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import services as bench

ROOT = Path(__file__).resolve().parent.parent
RECORDS = int(os.environ.get("DSAR_BENCH_BUNDLE_RECORDS", "100000"))
BIG_RECORDS = int(os.environ.get("DSAR_BENCH_BUNDLE_BIG_RECORDS", "1000000"))
REPORT_CATEGORIES = 50
REPORT_RECORDS_PER_CATEGORY = 60

# (code, slug, share of the records): roughly the privacy statement's register, browsing heavy.
REGISTER = [
    ("2.1", "online_account", 0.01),
    ("2.2", "enquiries", 0.02),
    ("2.3", "events", 0.01),
    ("2.4.1", "browsing", 0.70),
    ("2.4.2", "products", 0.05),
    ("2.5", "fulfilment", 0.05),
    ("2.6", "prospects", 0.01),
    ("2.7", "surveys", 0.02),
    ("2.8", "purchases", 0.08),
    ("2.10", "cookies", 0.04),
    ("2.11", "legal", 0.01),
]


def _setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()


def _category(code: str, slug: str, *, name: str | None = None):
    from exporters.context import CategoryInfo

    return CategoryInfo(
        slug=slug,
        code=code,
        name=name or slug.replace("_", " ").capitalize(),
        description="The personal information that we keep in this category, and why.",
        examples="Name, business e-mail, business phone, position in your business.",
        origin="provided",
        portable=True,
        purposes=["Identify you and run your account", "Service notices"],
        legal_bases=["Contract with your business (Art. 6(1)(b) GDPR)"],
        sources=["You"],
        recipients=["Group companies on a need-to-know basis", "Hosting providers"],
        retention="As long as the relationship lasts, then at most 6 years",
        transfers=["United States: EU standard contractual clauses"],
    )


def _facts(categories):
    from exporters.context import BundleFacts, CategoryInfo

    return BundleFacts(
        reference="DSAR-2026-000042",
        request_type="access",
        language="sq",
        subject_name="Arta Krasniqi",
        received_on=dt.date(2026, 11, 2),
        due_on=dt.date(2026, 12, 2),
        generated_at=dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
        controller_name="Canon Albania sh.p.k.",
        controller_contact="Rruga e Kavajës 1, Tiranë",
        dpo_email="dpo@canon.demo.example",
        categories=[
            *categories,
            CategoryInfo(
                slug="payments",
                code="2.9",
                name="Payments",
                held=False,
                not_held_reason="Card payments go through third-party payment platforms.",
            ),
        ],
        generator_version="benchmark",
    )


def _records(counts: dict[str, int]):
    """records_by_category over generated records: nothing is stored, each call starts anew."""

    def records_by_category(slug: str):
        for i in range(counts.get(slug, 0)):
            yield {
                "source": f"{slug} system",
                "key": f"{slug}-{i}",
                "found_by": "email",
                "data": {
                    "name": "Arta Krasniqi",
                    "email": "arta.krasniqi@demo.example",
                    "city": "Tiranë",
                    "visit": i,
                    "page": f"/products/{i % 500}?q=printer+ë",
                    "at": "2026-11-20T10:30:00+01:00",
                },
            }

    return records_by_category


def _split(total: int) -> dict[str, int]:
    counts = {slug: int(total * share) for _code, slug, share in REGISTER}
    counts["browsing"] += total - sum(counts.values())
    return counts


class _HashingSink:
    """An unseekable sink, like the encrypting stream the bundle is written to."""

    def __init__(self) -> None:
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.sha256.update(data)
        return len(data)


def _access_bundle(total: int) -> dict:
    from exporters.bundle import write_bundle

    facts = _facts([_category(code, slug) for code, slug, _share in REGISTER])
    sink = _HashingSink()
    started = time.perf_counter()
    manifest = write_bundle(sink, facts, _records(_split(total)))
    seconds = time.perf_counter() - started
    return {
        "records": manifest.total_records,
        "seconds": round(seconds, 2),
        "records_per_second": round(manifest.total_records / seconds),
        "zip_bytes": sink.size,
        "report_bytes": manifest.file("report.pdf").size,
        "files": len(manifest.files) + 1,
    }


def _warm_up() -> None:
    """WeasyPrint loads fonts and its stylesheets once per process (a worker keeps them)."""
    from exporters.report import render_report

    render_report(_facts([_category("2.1", "online_account")]), _records({"online_account": 3}))


def big_bundle_child() -> None:
    """Runs in a child process: peak RSS of a 1,000,000-record access bundle."""
    _setup()
    _warm_up()
    baseline = bench.peak_rss_mb(os.getpid())
    figures = _access_bundle(BIG_RECORDS)
    figures["peak_rss_before_mb"] = round(baseline, 1)  # Django, WeasyPrint and its fonts
    figures["peak_rss_mb"] = round(bench.peak_rss_mb(os.getpid()), 1)
    print(json.dumps(figures))


def _big_bundle() -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", "from benchmarks import bundles; bundles.big_bundle_child()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _report_50_categories() -> dict:
    import io

    import pypdf

    from exporters.report import render_report

    categories = [
        _category(f"{1 + i // 10}.{i % 10 + 1}", f"category_{i:02d}", name=f"Category {i + 1}")
        for i in range(REPORT_CATEGORIES)
    ]
    counts = {c.slug: REPORT_RECORDS_PER_CATEGORY for c in categories}
    facts = _facts(categories)
    started = time.perf_counter()
    pdf = render_report(facts, _records(counts))
    seconds = time.perf_counter() - started
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    return {
        "categories": REPORT_CATEGORIES,
        "records": sum(counts.values()),
        "seconds": round(seconds, 2),
        "pages": pages,
        "pages_per_second": round(pages / seconds, 1),
        "pdf_bytes": len(pdf),
    }


def main() -> int:
    _setup()
    _warm_up()
    figures = {
        f"access_bundle_{RECORDS}_records": _access_bundle(RECORDS),
        f"access_bundle_{BIG_RECORDS}_records": _big_bundle(),
        "report_50_categories": _report_50_categories(),
        "targets": {
            f"access_bundle_{RECORDS}_records_under_s": 5,
            f"access_bundle_{BIG_RECORDS}_records_peak_rss_under_mb": 250,
            "report_50_categories_under_s": 10,
        },
    }
    print(json.dumps(figures, indent=2))
    return 0
