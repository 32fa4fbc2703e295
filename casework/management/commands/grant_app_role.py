from django.core.management.base import BaseCommand, CommandError

from casework.dbroles import READ_WRITE, RoleError, app_role_privileges, grant_app_role


class Command(BaseCommand):
    help = (
        "Give the application's database role its rights on every table: read and write, but "
        "only SELECT and INSERT on the audit events and checkpoints. Run as the owner role "
        "after every migrate (PostgreSQL only); it takes back any other right the role had."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role the web server and the workers connect as")
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        try:
            restricted = grant_app_role(options["role"], using=options["database"])
        except RoleError as error:
            raise CommandError(str(error)) from error
        privileges = app_role_privileges()
        self.stdout.write(f"{options['role']}: {', '.join(READ_WRITE)} on every table, except")
        for table in restricted:
            self.stdout.write(f"  {table}: {', '.join(privileges[table])}")
