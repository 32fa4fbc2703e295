"""Load authorised agents (DRP) from a directory JSON file: a list of objects with `id`, `name`,
`verify_key`, `web_url`, `identity_assurance_url` and contact fields. Existing agents are
updated; their trust policy, their token and whether they are enabled are left as they are."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from casework.drp.signing import decode_key
from casework.models import DrpAgent

FIELDS = ("name", "verify_key", "web_url", "identity_assurance_url")


class Command(BaseCommand):
    help = "Load authorised agents from a DRP directory JSON file (added or updated)."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file: str, **options):
        try:
            with open(file, encoding="utf-8") as handle:
                entries = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {file}: {type(exc).__name__}") from None
        if not isinstance(entries, list):
            raise CommandError("the file must hold a list of agents")
        added = updated = 0
        with transaction.atomic():
            for number, entry in enumerate(entries, 1):
                if not isinstance(entry, dict) or not entry.get("id"):
                    raise CommandError(f"entry {number}: an object with an id is required")
                values = {name: str(entry.get(name) or "") for name in FIELDS}
                values["contacts"] = {
                    k: v for k, v in entry.items() if k not in (*FIELDS, "id") and v
                }
                try:
                    decode_key(values["verify_key"])
                except ValueError:
                    raise CommandError(
                        f"entry {number}: verify_key is not an Ed25519 key"
                    ) from None
                agent = DrpAgent.objects.filter(pk=entry["id"]).first()
                if agent is None:
                    agent, created = DrpAgent(id=entry["id"]), True
                else:
                    created = False
                for name, value in values.items():
                    setattr(agent, name, value)
                try:
                    agent.full_clean()
                except ValidationError as exc:
                    raise CommandError(
                        f"entry {number}: {', '.join(exc.message_dict)} not valid"
                    ) from None
                agent.save()
                added += created
                updated += not created
        self.stdout.write(f"{added} agent(s) added, {updated} updated")
