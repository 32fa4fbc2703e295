from django.core.management.base import BaseCommand, CommandError

from dsar.register import DEFAULT_REGISTER_PATH, RegisterError, load_register_file


class Command(BaseCommand):
    help = (
        "Load the register of processing (data categories, purposes, legal bases, retention, "
        "recipients, transfers, sources) from YAML. Idempotent: rows are matched by code."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--path",
            default=str(DEFAULT_REGISTER_PATH),
            help="A register file of the same shape as the default (%(default)s).",
        )

    def handle(self, *args, path: str, **options) -> None:
        try:
            result = load_register_file(path)
        except RegisterError as exc:
            raise CommandError(f"Register {path} was not loaded:\n{exc}") from exc
        for line in result.summary_lines():
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Register loaded from {path}"))
