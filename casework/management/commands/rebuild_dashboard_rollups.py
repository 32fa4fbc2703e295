from django.core.management.base import BaseCommand
from django.db import connections, transaction

from casework import rollups


class Command(BaseCommand):
    help = (
        "Install the triggers that keep the dashboard's rollups (again, with the controller's "
        "time zone of the settings) and count the rollups again from every case. Run it after "
        "DSAR_TIME_ZONE changed, or after cases were written with the triggers disabled "
        "(a restore, a bulk load). Writes to the cases wait while it runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")
        parser.add_argument(
            "--no-install",
            action="store_true",
            help="count again only, leaving the triggers as they are",
        )

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        with transaction.atomic(using=connection.alias):  # no write slips between the two
            if not options["no_install"]:
                rollups.install(connection)
            made = rollups.rebuild(connection)
        for table, rows in made.items():
            self.stdout.write(f"{table}: {rows} rows")
