from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


def load_data_map(*args: str) -> str:
    out = StringIO()
    call_command("load_data_map", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def register(db) -> str:
    """The default register, loaded; returns the command's output."""
    return load_data_map()
