"""Every role against every admin page, and against a confidential case: no access the role
should not have, and the access it needs. The table below is the roles' promise, written out
on its own (not read from casework.roles), so that a change of a role's rights fails here
until it is deliberate. A newly registered admin page fails until it is in the table."""

import pytest
from django.contrib import admin
from django.urls import reverse

from casework import roles
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

PT, DPO, AUD, ADM = roles.PRIVACY_TEAM, roles.DPO, roles.AUDITOR, roles.ADMINISTRATOR
STAFF_ROLES = (PT, DPO, AUD, ADM)

# Who may open each admin list (view) and who may add to it.
ADMIN_PAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "auth.User": {"view": (ADM,), "add": (ADM,)},
    "otp_totp.TOTPDevice": {"view": (ADM,), "add": (ADM,)},
    "casework.Case": {"view": (PT, DPO, AUD), "add": (PT, DPO)},
    "casework.AuditEvent": {"view": (PT, DPO, AUD), "add": ()},
    "casework.BreachRecord": {"view": (DPO, AUD), "add": ()},
    "casework.PostalLetter": {"view": (PT, DPO, AUD), "add": ()},
    # What the reminder job sent: the DPO (escalated to) and the auditor read it.
    "casework.Reminder": {"view": (DPO, AUD), "add": ()},
    "casework.DigestSent": {"view": (DPO, AUD), "add": ()},
    # The record of opt-outs: written and lifted by the cases only.
    "casework.OptOut": {"view": (PT, DPO, AUD), "add": ()},
    "casework.PortalSubmission": {"view": (PT, DPO), "add": ()},
    "casework.CountryRegime": {"view": (DPO, ADM), "add": (DPO, ADM)},
    "casework.PublicHoliday": {"view": (ADM,), "add": (ADM,)},
    "casework.RoleGrant": {"view": (DPO, ADM), "add": ()},
    # API keys: issued by `manage.py issue_api_token` or the token endpoint, never here.
    "casework.ApiToken": {"view": (ADM,), "add": ()},
    # The Data Rights Protocol: agents kept by the administrator; requests are case data.
    "casework.DrpAgent": {"view": (DPO, ADM), "add": (ADM,)},
    "casework.DrpRequest": {"view": (PT, DPO, AUD), "add": ()},
    "casework.DrpCallback": {"view": (DPO, ADM), "add": ()},
    # Beat's schedules: interval and enabled only; none added here.
    "django_celery_beat.PeriodicTask": {"view": (ADM,), "add": ()},
    # One row, the controller: added once (the test database has none yet).
    "dsar.ControllerInfo": {"view": (PT, DPO, AUD, ADM), "add": (DPO, ADM)},
    "dsar.RetentionRule": {"view": (PT, DPO, AUD, ADM), "add": (DPO,)},
    **{
        f"dsar.{name}": {"view": (PT, DPO, AUD, ADM), "add": (DPO, ADM)}
        for name in (
            "DataCategory",
            "DataField",
            "DataSource",
            "LegalBasis",
            "Purpose",
            "Recipient",
            "SourceSystem",
            "Transfer",
        )
    },
}


def admin_url(model, view: str) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}")


def test_every_admin_page_is_in_the_table():
    registered = {m._meta.label for m in admin.site._registry}
    assert registered == set(ADMIN_PAGES)


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_role_opens_exactly_the_admin_pages_it_should(role, client):
    user = make_staff(f"walker_{role}", role)
    client.force_login(user)
    wrong = []
    for model in admin.site._registry:
        promise = ADMIN_PAGES[model._meta.label]
        for view, key in (("changelist", "view"), ("add", "add")):
            status = client.get(admin_url(model, view)).status_code
            allowed = role in promise[key]
            if allowed != (status == 200) or (not allowed and status not in (302, 403)):
                wrong.append((model._meta.label, view, status))
    assert wrong == []


def test_an_intake_client_opens_no_admin_page(client, ingrid):
    client.force_login(ingrid)
    for model in admin.site._registry:
        response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_a_confidential_case_is_seen_by_the_dpo_only(role, client, make_case):
    from casework.models import AuditEvent

    case = make_case()
    case.confidential = True
    case.save(update_fields=["confidential"])
    client.force_login(make_staff(f"walker_{role}", role))
    pages = [
        reverse("admin:casework_case_change", args=[case.pk]),
        reverse("admin:casework_case_review", args=[case.pk]),
        reverse("admin:casework_case_operation", args=[case.pk, "add_note"]),
        reverse(
            "admin:casework_auditevent_change",
            args=[AuditEvent.objects.filter(case=case).first().pk],
        ),
    ]
    for url in pages:
        status = client.get(url).status_code
        if role == DPO:
            assert status == 200, url
        else:
            assert status in (302, 403, 404), (url, status)
