"""Who did something: a staff member, the system (tasks, schedules) or the data subject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from casework.roles import ROLE_PERMISSIONS, SYSTEM

SYSTEM_PERMISSIONS = frozenset(ROLE_PERMISSIONS[SYSTEM])


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
        # Tasks and schedules act as the system. Its rights are the `system` role's, read from
        # casework.roles (the same list the group is made from), so acting as the system costs
        # no query on the path of every gathering run.
        return cls(cls.SYSTEM, None)

    @classmethod
    def subject(cls) -> Actor:
        return cls(cls.SUBJECT, None)

    def has_perm(self, perm: str) -> bool:
        if self.kind == self.SYSTEM:
            return perm in SYSTEM_PERMISSIONS
        if self.kind == self.STAFF:
            return self.user.is_active and self.user.has_perm(perm)
        return False

    def may_run(self, transition, case) -> bool:
        """Whether this staff member or the system may run a django-fsm transition."""
        if self.kind == self.SYSTEM:
            return isinstance(transition.permission, str) and self.has_perm(transition.permission)
        if self.kind == self.STAFF:
            return self.user.is_active and transition.has_perm(case, self.user)
        return False

    @property
    def label(self) -> str:
        if self.kind == self.SUBJECT:
            return "data subject"
        if self.kind == self.SYSTEM:
            return "system"
        return self.user.get_username()
