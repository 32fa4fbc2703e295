"""The roles' permissions (casework.roles) as DRF permissions. Which case a caller may see is
`casework.selectors.access`; what an operation allows, the operation's own check."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

READ_CASES = "casework.view_case"
FILE_CASES = ("casework.add_case", "casework.file_case")


def any_of(*perms: str) -> type[BasePermission]:
    """Allowed to an active user with any of `perms`."""

    class AnyOf(BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_active and any(user.has_perm(p) for p in perms))

    AnyOf.__name__ = f"AnyOf({', '.join(perms)})"
    return AnyOf


class CaseListPermission(BasePermission):
    """Reading: staff who read cases, or an intake client (its own cases). Filing: the privacy
    team, the DPO, or an intake client."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_active and user.is_authenticated):
            return False
        wanted = FILE_CASES if request.method == "POST" else (READ_CASES, "casework.file_case")
        return any(user.has_perm(p) for p in wanted)
