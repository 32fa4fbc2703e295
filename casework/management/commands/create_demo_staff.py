"""Demo staff logins for `make run`: two privacy team members (so four-eyes approval can be
tried), a DPO, an auditor and an administrator. Prints the logins."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from casework import roles

DEMO_STAFF = [
    ("alice", "Alice", "Privacy team", roles.PRIVACY_TEAM),
    ("bob", "Bob", "Privacy team", roles.PRIVACY_TEAM),
    ("dora", "Dora", "Data protection officer", roles.DPO),
    ("audrey", "Audrey", "Auditor", roles.AUDITOR),
    ("adam", "Adam", "Administrator", roles.ADMINISTRATOR),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo staff logins and print them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--password", default=None, help="one password for all (default: random)"
        )

    def handle(self, *args, **options):
        password = options["password"] or secrets.token_urlsafe(9)
        User = get_user_model()
        # One hash for the five logins (they share the password anyway): hashing is slow on
        # purpose, and `make run` does this on every start.
        encoded = make_password(password)
        self.stdout.write(f"Demo staff logins (password for all: {password})")
        for username, first, role_label, group in DEMO_STAFF:
            user, _ = User.objects.get_or_create(username=username)
            user.first_name = first
            user.last_name = role_label
            user.email = f"{username}@staff.demo.example"
            user.is_staff = True
            user.is_active = True
            user.password = encoded
            user.save()
            user.groups.set([Group.objects.get(name=group)])
            self.stdout.write(f"  {username:<8} {role_label}")
