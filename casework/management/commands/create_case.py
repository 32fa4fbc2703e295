import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from casework import services
from casework.actors import Actor
from casework.models import Channel, Language, RequestType
from casework.permissions import staff_user


class Command(BaseCommand):
    help = (
        "Enter a request that came by letter, phone or e-mail, through the same service as the "
        "web form. Prints the case reference."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--type", required=True, dest="request_type", choices=RequestType.values
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--postal-address", default="")
        parser.add_argument("--name", default="")
        parser.add_argument("--phone", default="")
        parser.add_argument("--customer-number", default="")
        parser.add_argument("--company", default="")
        parser.add_argument("--language", default=Language.EN, choices=Language.values)
        parser.add_argument("--regime", default=None)
        parser.add_argument("--channel", default=Channel.LETTER, choices=Channel.values)
        parser.add_argument(
            "--entered-by",
            default=None,
            help="staff username entering the request (audited; default: --verified-by, else the "
            "system, with the operating-system user recorded)",
        )
        parser.add_argument(
            "--verified-by", default=None, help="staff username who checked identity"
        )
        parser.add_argument("--verification-note", default="", help="how identity was checked")

    def handle(self, *args, **o):
        try:
            verifier = staff_user(o["verified_by"]) if o["verified_by"] else None
            entered_by = o["entered_by"] or o["verified_by"]
            actor = Actor.staff(staff_user(entered_by)) if entered_by else Actor.system()
            case = services.case_create(
                intake=services.Intake(
                    request_type=o["request_type"],
                    email=o["email"],
                    postal_address=o["postal_address"],
                    name=o["name"],
                    phone=o["phone"],
                    customer_number=o["customer_number"],
                    company=o["company"],
                    language=o["language"],
                    regime=o["regime"],
                    channel=o["channel"],
                ),
                actor=actor,
                verified_by=verifier,
                verification_note=o["verification_note"],
                intake_details={"entered_via": "command_line", "os_user": getpass.getuser()},
            )
        except ValidationError as exc:
            raise CommandError(_format(exc)) from None
        self.stdout.write(case.reference)


def _format(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
