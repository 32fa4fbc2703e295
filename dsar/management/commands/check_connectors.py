from django.core.management.base import BaseCommand

from dsar.connectors.registry import check_system
from dsar.models import SourceSystem


class Command(BaseCommand):
    help = (
        "Test every configured source system (configuration, reachable, credentials, mapping "
        "matches the schema); exit 1 with one line per fault."
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
        for system in systems:
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
