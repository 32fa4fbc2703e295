"""The register is editable in the admin."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.urls import reverse

from dsar.models import ControllerInfo, DataCategory, Purpose

pytestmark = pytest.mark.django_db

DSAR_MODELS = list(apps.get_app_config("dsar").get_models())


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        username="root", email="root@staff.demo.example", password="correct horse battery staple"
    )
    client.force_login(user)
    return client


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", DSAR_MODELS, ids=lambda m: m.__name__)
def test_every_register_model_has_a_changelist(superuser_client, register, model):
    response = superuser_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "model", [m for m in DSAR_MODELS if m.__name__ != "SourceSystem"], ids=lambda m: m.__name__
)
def test_every_loaded_row_opens_in_the_admin(superuser_client, register, model):
    obj = model.objects.first()
    response = superuser_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200


def test_the_changelist_searches_and_filters(superuser_client, register):
    url = admin_url(DataCategory, "changelist")
    response = superuser_client.get(url, {"q": "dietike"})
    assert response.status_code == 200
    assert list(response.context["cl"].queryset.values_list("code", flat=True)) == ["2.3"]
    response = superuser_client.get(url, {"held__exact": "0"})
    assert list(response.context["cl"].queryset.values_list("code", flat=True)) == ["2.9"]


def test_a_category_page_shows_its_fields_inline(superuser_client, register):
    products = DataCategory.objects.get(code="2.4.2")
    response = superuser_client.get(admin_url(DataCategory, "change", products.pk))
    assert b"serial_number" in response.content


def test_a_purpose_can_be_edited(superuser_client, register):
    purpose = Purpose.objects.get(code="surveys_feedback")
    response = superuser_client.post(
        admin_url(Purpose, "change", purpose.pk),
        {
            "code": purpose.code,
            "name_sq": purpose.name_sq,
            "name_en": "Surveys, feedback and reviews",
            "description_sq": purpose.description_sq,
            "description_en": purpose.description_en,
            "legal_bases": list(purpose.legal_bases.values_list("pk", flat=True)),
        },
    )
    assert response.status_code == 302
    purpose.refresh_from_db()
    assert purpose.name_en == "Surveys, feedback and reviews"
    assert purpose.direct_marketing is False


def test_a_source_system_can_be_added(superuser_client, register):
    response = superuser_client.post(
        admin_url(apps.get_model("dsar", "SourceSystem"), "add"),
        {
            "name": "Service desk",
            "slug": "service-desk",
            "description": "",
            "connector": "manual",
            "active": "on",
            "owner_email": "servicedesk@demo.example",
            "config": "{}",
            "categories": [DataCategory.objects.get(code="2.2").pk],
        },
    )
    assert response.status_code == 302
    system = apps.get_model("dsar", "SourceSystem").objects.get(slug="service-desk")
    assert list(system.categories.values_list("code", flat=True)) == ["2.2"]


def test_a_second_controller_cannot_be_added(superuser_client, register):
    assert ControllerInfo.objects.count() == 1
    response = superuser_client.get(admin_url(ControllerInfo, "add"))
    assert response.status_code == 403
