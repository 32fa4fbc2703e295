"""The register's rule for our own case files: closed DSAR cases, their letters and notes are
kept 36 months for accountability (Art. 5(2) GDPR), then reduced to anonymous statistics. The
DPO edits the period in the admin (retention rules are the DPO's)."""

from django.db import migrations

RULE = {
    "code": "case_files",
    "name_en": "Our own files of data subject requests",
    "name_sq": "Dosjet tona të kërkesave të subjekteve të të dhënave",
    "description_en": (
        "A closed request, with its letters and notes, is kept for this period to show how "
        "we answered it (accountability, Art. 5(2) GDPR), then reduced to anonymous "
        "statistics. Its audit trail, which holds no personal data, is kept. A legal hold "
        "stops this until it is lifted."
    ),
    "description_sq": (
        "Një kërkesë e mbyllur, me letrat dhe shënimet e saj, ruhet për këtë periudhë për të "
        "treguar si iu përgjigjëm (llogaridhënia, neni 5(2) GDPR), pastaj reduktohet në "
        "statistika anonime. Gjurma e auditimit, që nuk mban të dhëna personale, ruhet. Një "
        "mbajtje ligjore e ndalon këtë derisa të hiqet."
    ),
    "period_months": 36,
    "on_erasure": "keep",
    "keep_reason_en": "Kept to show how we answered your request (accountability).",
    "keep_reason_sq": "Ruhet për të treguar si iu përgjigjëm kërkesës suaj (llogaridhënia).",
}


def add_rule(apps, schema_editor):
    RetentionRule = apps.get_model("dsar", "RetentionRule")
    RetentionRule.objects.get_or_create(code=RULE["code"], defaults=RULE)


class Migration(migrations.Migration):
    dependencies = [
        ("dsar", "0005_system_processors_and_recipients"),
    ]

    operations = [
        migrations.RunPython(add_rule, migrations.RunPython.noop),
    ]
