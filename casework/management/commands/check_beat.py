from django.core.management.base import BaseCommand

from casework.health import beat_status


class Command(BaseCommand):
    help = (
        "Exit 0 when Celery beat's scheduler wrote its heartbeat recently (within three "
        "DSAR_BEAT_HEARTBEAT_SECONDS), 1 otherwise: the beat container's health check."
    )

    def handle(self, *args, **options):
        status = beat_status()
        if not status["ok"]:
            self.stderr.write(f"beat is down: {status}")
            raise SystemExit(1)
        self.stdout.write("beat is alive")
