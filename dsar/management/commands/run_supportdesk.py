from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from dsar.demo.supportdesk import TOKEN_ENV, Fault, faults_from_env, make_server, unavailable


class Command(BaseCommand):
    help = (
        "Run the demo HTTP support-desk service in the foreground (Ctrl-C stops it). The bearer "
        f"token is read from {TOKEN_ENV}; the SQLite file is created when missing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
        parser.add_argument(
            "--db",
            default=str(settings.VAR_DIR / "demo" / "supportdesk.sqlite3"),
            help="The desk's SQLite file (%(default)s).",
        )
        parser.add_argument(
            "--fail-next", type=int, default=0, metavar="N",
            help="Answer the next N requests 503 with Retry-After: 1.",
        )  # fmt: skip
        parser.add_argument(
            "--slow-next", type=int, default=0, metavar="N",
            help="Delay the N requests after those by --slow-seconds.",
        )  # fmt: skip
        parser.add_argument("--slow-seconds", type=float, default=30.0)

    def handle(self, *args, host, port, db, fail_next, slow_next, slow_seconds, **options) -> None:
        try:
            faults = faults_from_env()
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if fail_next > 0:
            faults.append(unavailable(count=fail_next))
        if slow_next > 0:
            faults.append(Fault(status=None, delay=slow_seconds, count=slow_next))
        try:
            server = make_server(host, port, db, faults=faults)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.stdout.write(
            f"Support desk at {server.url} (data: {server.db_path}). Ctrl-C stops it."
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
