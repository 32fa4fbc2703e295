"""Who did something: a staff member, the system (tasks, schedules) or the data subject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.contrib.auth import get_user_model

from casework.roles import SYSTEM_USERNAME


@dataclass(frozen=True)
class Actor:
    STAFF: ClassVar[str] = "staff"
    SYSTEM: ClassVar[str] = "system"
    SUBJECT: ClassVar[str] = "subject"

    kind: str
    user: Any = None

    @classmethod
    def staff(cls, user) -> Actor:
        if user is None or not user.is_authenticated:
            raise PermissionError("a signed-in staff member is required")
        return cls(cls.STAFF, user)

    @classmethod
    def system(cls) -> Actor:
        # The system user (created by the roles migration) holds the system group's rights.
        user = get_user_model().objects.get(username=SYSTEM_USERNAME)
        return cls(cls.SYSTEM, user)

    @classmethod
    def subject(cls) -> Actor:
        return cls(cls.SUBJECT, None)

    @property
    def label(self) -> str:
        if self.kind == self.SUBJECT:
            return "data subject"
        if self.kind == self.SYSTEM:
            return "system"
        return self.user.get_username()
