from django.core.management.base import BaseCommand

from dsar.connectors.registry import check_system, unlabelled_columns
from dsar.models import DataField, SourceSystem


class Command(BaseCommand):
    help = (
        "Test every configured source system (configuration, reachable, credentials, mapping "
        "matches the schema); exit 1 with one line per fault. Warns (WARN lines, exit status "
        "unchanged) about exported columns without a field of the register to name them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "systems", nargs="*", help="slugs to check (default: every active system)"
        )
        parser.add_argument("--all", action="store_true", help="include inactive systems")

    def handle(self, *args, **options):
        systems = SourceSystem.objects.order_by("slug")
        if options["systems"]:
            systems = systems.filter(slug__in=options["systems"])
        elif not options["all"]:
            systems = systems.filter(active=True)
        failed = 0
        labelled = set(DataField.objects.values_list("category__slug", "key"))
        for system in systems:
            # A warning, not a fault: the system works, but the subject's report would show a
            # column under the source's own name instead of the register's.
            for warning in unlabelled_columns(system, labelled):
                self.stdout.write(f"WARN {system.slug} ({system.connector}): {warning}")
            problems = check_system(system)
            if problems:
                failed += 1
                for problem in problems:
                    self.stdout.write(f"FAIL {system.slug} ({system.connector}): {problem}")
            else:
                self.stdout.write(f"ok   {system.slug} ({system.connector})")
        if failed:
            self.stderr.write(f"{failed} system(s) failed the check")
            raise SystemExit(1)
