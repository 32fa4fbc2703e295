import argparse

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from dsar.demo.loader import (
    ARTA,
    DEFAULT_SUPPORTDESK_PORT,
    SYSTEMS,
    DemoOptions,
    DemoReport,
    load_demo,
)
from dsar.models import DataCategory


def heavy_subject(value: str) -> tuple[str, int]:
    email, _, records = value.rpartition(":")
    if "@" not in email or not records.isdigit():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not EMAIL:RECORDS (bench@demo.example:10000)"
        )
    return email.strip().lower(), int(records)


def at_least_two(value: str) -> int:
    number = int(value)
    if number < 2:
        raise argparse.ArgumentTypeError("at least 2 (two of them share the office switchboard)")
    return number


class Command(BaseCommand):
    help = (
        "Build the demo source systems of the privacy statement with realistic data: the CRM and "
        "the repairs system (PostgreSQL databases beside the default one, or SQLite files under "
        "VAR_DIR/demo), the HTTP support desk's SQLite file, and the CSV attendee and prospect "
        "lists; then create or update their source systems (crm, repairs, supportdesk, events, "
        "prospects). A complete demo is kept as it is unless --reset is given. When the default "
        "database has a password, the SQL systems read their URLs from DSAR_DEMO_CRM_URL and "
        "DSAR_DEMO_REPAIRS_URL, which must then be set wherever the connectors run."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--subjects", type=at_least_two, default=200, metavar="N",
            help="People in the CRM besides Arta Krasniqi (%(default)s).",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=42, help="Same seed, same demo.")
        parser.add_argument(
            "--reset", action="store_true", help="Drop the demo's data and build it again."
        )
        parser.add_argument(
            "--heavy", type=heavy_subject, action="append", default=[], metavar="EMAIL:RECORDS",
            help="Add a CRM subject with this e-mail and this many web events (benchmarks).",
        )  # fmt: skip
        parser.add_argument(
            "--supportdesk-port", type=int, default=DEFAULT_SUPPORTDESK_PORT,
            help="Where the support desk listens (manage.py run_supportdesk --port).",
        )  # fmt: skip
        parser.add_argument(
            "--backend", choices=("auto", "sqlite", "postgresql"), default="auto",
            help="Where the SQL systems live: PostgreSQL when the default database is (auto).",
        )  # fmt: skip

    def handle(self, *args, **options) -> None:
        if not DataCategory.objects.exists():
            self.stdout.write("No register of processing yet: loading the default one first.")
            call_command("load_data_map", verbosity=0)
        demo = DemoOptions(
            subjects=options["subjects"],
            seed=options["seed"],
            reset=options["reset"],
            heavy=options["heavy"],
            supportdesk_port=options["supportdesk_port"],
            backend=options["backend"],
        )
        try:
            report = load_demo(demo, progress=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.show(report)

    def show(self, report: DemoReport) -> None:
        write = self.stdout.write
        meta = report.meta
        if not report.loaded:
            write(
                f"A demo is already loaded ({meta.get('subjects')} subjects, seed "
                f"{meta.get('seed')}, {meta.get('rows')} rows, loaded {meta.get('loaded_at')} "
                "UTC): nothing loaded. --reset builds it again."
            )
        else:
            subjects = int(meta["subjects"])
            write(f"Demo data: {subjects:,} subjects and Arta Krasniqi, seed {meta['seed']}.")
            for system, tables in report.counts.items():
                total = sum(tables.values())
                detail = ", ".join(f"{name} {rows:,}" for name, rows in tables.items())
                write(f"  {system:<12} {total:>12,} rows  ({detail})")
            per_subject = report.rows_per_subject
            timings = report.timings
            write(
                f"  {'total':<12} {report.total_rows:>12,} rows  ({per_subject:.1f} a subject); "
                f"written in {timings['generate_and_write']:.1f} s, keys, indexes and ANALYZE "
                f"{timings['indexes_and_analyze']:.1f} s, all {timings['total']:.1f} s"
            )
        for slug, where in report.locations.items():
            write(f"  {slug:<12} {where}")
        for variable, database in report.url_env.items():
            write(
                self.style.WARNING(
                    f"  Set {variable} to the URL of database {database} (with its password) "
                    "wherever the connectors run."
                )
            )
        names = {spec.slug: spec.name for spec in SYSTEMS}
        done = ", ".join(f"{names[slug]} ({status})" for slug, status in report.systems.items())
        write(self.style.SUCCESS(f"Source systems: {done}."))
        write(
            f"Try a request from {ARTA.email}: the CRM teaches her customer number, phone and "
            "name + company, which find her in the other systems."
        )
