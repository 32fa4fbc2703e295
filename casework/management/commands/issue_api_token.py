"""`manage.py issue_api_token USERNAME [--days N] [--name NAME]`: a key of the staff API for an
account (an intake client, typically), printed once. Only its hash is kept."""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from casework import audit
from casework.actors import Actor
from casework.services.api_tokens import api_token_issue


class Command(BaseCommand):
    help = "Issue a key of the staff API for USERNAME; the key is printed once, only its hash kept."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None, help="lifetime (DSAR_API_TOKEN_DAYS)")
        parser.add_argument("--name", default="", help="what the key is for, e.g. the CRM")

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: options["username"]}).first()
        if user is None or not user.is_active:
            raise CommandError(f"No active account {options['username']!r}.")
        if options["days"] is not None and options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        with audit.origin(entered_via="command_line", os_user=getpass.getuser()):
            issued = api_token_issue(
                user=user, actor=Actor.system(), name=options["name"], days=options["days"]
            )
        self.stderr.write(
            f"Key {issued.token.prefix}… for {user.get_username()}, valid until "
            f"{issued.token.expires_at:%Y-%m-%d %H:%M %Z}. It is shown only now:"
        )
        self.stdout.write(issued.key)
