"""The dashboard's figures through the staff API: the same rows as the dashboard's CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from tests.casework.api_support import assert_error, client_for, own_rate_counters  # noqa: F401

pytestmark = pytest.mark.django_db
FIGURES = "/api/v1/dashboard/figures/"


def test_the_figures_are_the_dashboards_csv_rows(client, dora, make_case):
    make_case()
    make_case(email="other@demo.example", request_type="erasure")
    query = {"start": "2026-01-01", "end": "2026-12-31"}
    body = client_for(dora).get(FIGURES, query).json()
    client.force_login(dora)
    response = client.get(reverse("dashboard:figures_csv"), query)
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert body["start"] == "2026-01-01" and body["end"] == "2026-12-31"
    assert len(body["figures"]) == len(rows)
    for api, sheet in zip(body["figures"], rows, strict=True):
        assert api["figure"] == sheet["figure"]
        assert str("" if api["value"] is None else api["value"]) == sheet["value"]
    opened = {
        f["request_type"]: f["value"]
        for f in body["figures"]
        if f["figure"] == "open" and f["state"] == "received"
    }
    assert opened == {"access": 1, "erasure": 1}


def test_a_bad_date_or_an_unknown_parameter_is_a_400_naming_it(dora):
    api = client_for(dora)
    body = assert_error(api.get(FIGURES, {"start": "2026-13-45"}), 400)
    assert "start" in body["fields"]
    body = assert_error(api.get(FIGURES, {"colour": "blue"}), 400)
    assert "colour" in body["fields"]
    body = assert_error(api.get(FIGURES, {"regime": "mars"}), 400)
    assert "regime" in body["fields"]


def test_the_figures_filter_by_assignee_username_and_an_unknown_one_is_a_400(
    alice, dora, make_case
):
    from casework import services
    from casework.actors import Actor

    case = make_case()
    services.case_assign(case=case, actor=Actor.staff(dora), assignee=alice)
    make_case(email="other@demo.example")
    api = client_for(dora)

    def open_total(**query):
        figures = api.get(FIGURES, query).json()["figures"]
        return sum(f["value"] for f in figures if f["figure"] == "open")

    assert open_total() == 2
    assert open_total(assignee="alice") == 1
    body = assert_error(api.get(FIGURES, {"assignee": "nobody-by-that-name"}), 400)
    assert "assignee" in body["fields"]
