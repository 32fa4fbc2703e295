"""A system with no API: a named person searches it and answers in the admin.

The connector itself does nothing but say so; the case side (casework.services.gathering) turns its run
into a task for the system's owner and waits for their answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dsar.connectors.base import BaseConnector


class ManualConnector(BaseConnector):
    kind: ClassVar[str] = "manual"
    verbose_name: ClassVar[str] = "Manual search by a person"

    @classmethod
    def validate_merged_config(cls, config: dict[str, Any]) -> list[str]:
        problems = super().validate_merged_config(config)
        instructions = config.get("instructions", "")
        if not isinstance(instructions, str):
            problems.append("instructions must be text")
        unknown = set(config) - {"instructions", "category"}
        if unknown:
            problems.append(f"unknown keys: {', '.join(sorted(unknown))}")
        return problems

    @property
    def is_manual(self) -> bool:
        return True
