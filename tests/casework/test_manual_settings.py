"""A manual system's instructions and export category are read as its connector reads them:
inline, or from the YAML file its `mapping_file` names (inline keys win). The admin's page for
the person who searches it, the form's preselected category and the service's fallback category
all come from `selectors.manual_settings`; a mapping file that cannot be read is reported on
the page, which still opens and still takes an answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from casework import results, selectors, services
from casework.actors import Actor
from casework.admin.forms import ManualSearchForm
from casework.models import Case, ConnectorRun, State
from dsar.models import DataCategory, SourceSystem

pytestmark = pytest.mark.django_db

ARTA = "arta.krasniqi@demo.example"
INSTRUCTIONS = "Search the cabinet in room 4, drawer B."
EXPORT = b"Email,Note\narta.krasniqi@demo.example,Fair 2019\n"


def write_mapping(path: Path, settings: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def break_mapping(path: Path) -> None:
    path.write_text("instructions: [unclosed\n", encoding="utf-8")


def complete_url(case: Case, run: ConnectorRun) -> str:
    return reverse("admin:casework_case_run_complete", args=[case.pk, run.pk])


@pytest.fixture
def events_category(db):
    return DataCategory.objects.create(
        code="2.3", slug="events", name_en="Events", name_sq="Evente", origin="provided"
    )


@pytest.fixture
def mapping(tmp_path) -> Path:
    """The paper archive's settings, only in a mapping file (an absolute path)."""
    return write_mapping(
        tmp_path / "mappings" / "paper.yaml", {"instructions": INSTRUCTIONS, "category": "events"}
    )


@pytest.fixture
def paper(events_category, mapping):
    """A manual system whose configuration names nothing but its mapping file."""
    return SourceSystem.objects.create(
        name="Paper archive",
        slug="paper",
        connector="manual",
        config={"mapping_file": str(mapping)},
        owner_email="archivist@staff.demo.example",
    )


@pytest.fixture
def waiting(paper, make_case, django_capture_on_commit_callbacks):
    """A case gathering, waiting for the manual search of the paper archive."""
    with django_capture_on_commit_callbacks(execute=True):
        services.case_verify(case=make_case(email=ARTA), actor=Actor.subject())
    run = ConnectorRun.objects.select_related("case", "system").get(system=paper)
    assert (run.case.state, run.state) == (State.GATHERING, ConnectorRun.State.WAITING)
    return run.case, run


# --- reading the settings ------------------------------------------------------------------------


def test_manual_settings_are_read_inline():
    system = SourceSystem(
        connector="manual", config={"instructions": INSTRUCTIONS, "category": "events"}
    )
    assert selectors.manual_settings(system) == selectors.ManualSettings(
        instructions=INSTRUCTIONS, category="events"
    )


def test_manual_settings_are_read_from_a_mapping_file_relative_to_the_project(tmp_path, settings):
    settings.BASE_DIR = tmp_path
    write_mapping(tmp_path / "mappings" / "paper.yaml", {"instructions": INSTRUCTIONS})
    system = SourceSystem(
        connector="manual", config={"mapping_file": "mappings/paper.yaml", "category": "events"}
    )
    assert selectors.manual_settings(system) == selectors.ManualSettings(
        instructions=INSTRUCTIONS, category="events"
    )


def test_inline_manual_settings_win_over_the_mapping_file(mapping):
    system = SourceSystem(
        connector="manual", config={"mapping_file": str(mapping), "category": "fulfilment"}
    )
    assert selectors.manual_settings(system).category == "fulfilment"
    assert selectors.manual_settings(system).instructions == INSTRUCTIONS


def test_a_mapping_file_that_cannot_be_read_gives_empty_manual_settings_and_says_why(mapping):
    system = SourceSystem(connector="manual", config={"mapping_file": str(mapping)})
    break_mapping(mapping)
    settings = selectors.manual_settings(system)
    assert (settings.instructions, settings.category) == ("", "")
    assert "is not valid YAML at line 2" in settings.problem

    mapping.unlink()
    assert "cannot read" in selectors.manual_settings(system).problem


def test_manual_settings_of_the_wrong_type_are_left_out():
    system = SourceSystem(connector="manual", config={"instructions": ["a"], "category": 3})
    assert selectors.manual_settings(system) == selectors.ManualSettings()
    not_a_mapping = SourceSystem(connector="manual", config=["instructions"])
    assert "must be a mapping" in selectors.manual_settings(not_a_mapping).problem


# --- the admin page, the form and the service ----------------------------------------------------


def test_the_admin_shows_instructions_and_preselects_the_category_from_the_mapping_file(
    client, alice, waiting
):
    case, run = waiting
    client.force_login(alice)
    response = client.get(complete_url(case, run))
    assert response.status_code == 200
    page = response.content.decode()
    assert INSTRUCTIONS in page
    assert 'value="events" selected' in page
    assert ManualSearchForm(run=run).fields["category"].initial == "events"


def test_an_export_without_a_category_takes_the_one_in_the_mapping_file(alice, waiting):
    _case, run = waiting
    run = services.complete_manual_run(
        run=run, actor=Actor.staff(alice), upload=SimpleUploadedFile("export.csv", EXPORT)
    )
    assert (run.state, run.counts) == (ConnectorRun.State.SUCCEEDED, {"events": 1})
    assert [r["category"] for r in results.read_records(run.pk, run.result_file)] == ["events"]


def test_a_broken_mapping_file_is_reported_on_the_admin_page_which_still_opens(
    client, alice, waiting, mapping
):
    case, run = waiting
    break_mapping(mapping)
    client.force_login(alice)
    response = client.get(complete_url(case, run))
    assert response.status_code == 200
    page = response.content.decode()
    assert "The settings of Paper archive could not be read" in page
    assert f"&#x27;{mapping}&#x27; is not valid YAML at line 2" in page
    assert INSTRUCTIONS not in page
    assert 'value="events" selected' not in page
    assert ARTA in page  # the person still sees what to search for


def test_with_a_broken_mapping_file_the_person_names_the_category_and_is_told_why(
    client, alice, waiting, mapping
):
    case, run = waiting
    break_mapping(mapping)
    client.force_login(alice)
    export = SimpleUploadedFile("export.csv", EXPORT)
    response = client.post(complete_url(case, run), {"category": "", "upload": export})
    assert response.status_code == 200
    errors = str(response.context["form"].errors["category"])
    assert "Say which data category the export holds." in errors
    assert "is not valid YAML at line 2" in errors
    assert ConnectorRun.objects.get(pk=run.pk).state == ConnectorRun.State.WAITING

    export = SimpleUploadedFile("export.csv", EXPORT)
    response = client.post(complete_url(case, run), {"category": "events", "upload": export})
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.state, run.counts) == (ConnectorRun.State.SUCCEEDED, {"events": 1})


def test_the_service_names_the_broken_mapping_file_when_no_category_is_given(
    alice, waiting, mapping
):
    _case, run = waiting
    mapping.unlink()
    with pytest.raises(ValidationError, match="cannot read"):
        services.complete_manual_run(
            run=run, actor=Actor.staff(alice), upload=SimpleUploadedFile("export.csv", EXPORT)
        )
    assert ConnectorRun.objects.get(pk=run.pk).state == ConnectorRun.State.WAITING
