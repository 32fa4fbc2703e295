"""Pages by cursor, on the primary key (unique and stable: no row is shown twice or skipped
when rows are added meanwhile). A cursor that is not ours is a 400, not a 404 or a 500."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, pagination


class CursorPagination(pagination.CursorPagination):
    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = 200
    invalid_cursor_message = _("This cursor is not valid: use the next or previous link.")

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                {"cursor": [self.invalid_cursor_message]}, code="invalid_cursor"
            ) from None
        if cursor is not None and cursor.position is not None:
            try:
                int(cursor.position)
            except ValueError:
                raise exceptions.ValidationError(
                    {"cursor": [self.invalid_cursor_message]}, code="invalid_cursor"
                ) from None
        return cursor

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None:
            try:
                size = int(raw)
            except ValueError:
                size = 0
            if not 1 <= size <= self.max_page_size:
                raise exceptions.ValidationError(
                    {
                        self.page_size_query_param: [
                            _("A whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                        ]
                    }
                )
        return super().get_page_size(request)
