import getpass

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from casework import services
from casework.actors import Actor
from casework.models import Case
from casework.permissions import staff_user


class Command(BaseCommand):
    help = (
        "Write the bundle of an access or portability case whose review is complete, for "
        "delivery by post or on a medium: an AES-encrypted ZIP whose passphrase is printed "
        "once (send it by another channel). --plain writes an unencrypted ZIP, and the audit "
        "trail says so."
    )

    def add_arguments(self, parser):
        parser.add_argument("reference")
        parser.add_argument("--out", required=True, help="path of the ZIP to write")
        parser.add_argument(
            "--staff",
            default=None,
            help="your staff username (audited; default: the system, with the operating-system "
            "user recorded)",
        )
        parser.add_argument("--plain", action="store_true", help="no encryption (audited)")

    def handle(self, *args, **options):
        case = Case.objects.filter(reference=options["reference"]).first()
        if case is None:
            raise CommandError(f"No case {options['reference']}.")
        try:
            if options["staff"]:
                actor = Actor.staff(staff_user(options["staff"]))
            else:
                actor = Actor.system()
            passphrase = services.export_to_medium(
                case=case,
                actor=actor,
                path=options["out"],
                plain=options["plain"],
                details={"via": "command_line", "os_user": getpass.getuser()},
            )
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError(" ".join(getattr(exc, "messages", [str(exc)]))) from None
        self.stdout.write(f"Wrote {options['out']}")
        if passphrase:
            self.stdout.write(f"Passphrase (shown once; send it by another channel): {passphrase}")
        else:
            self.stdout.write("The file is NOT encrypted; the audit trail records that.")
