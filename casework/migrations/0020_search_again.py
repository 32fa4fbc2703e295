"""Searching a case again after its erasure's verification scan flagged records: the case
counts its gatherings, and each search belongs to one (the rounds of a gathering are unique)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0019_processors_and_recipients"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="connectorrun",
            options={
                "ordering": ["case_id", "gathering", "round", "system_id"],
                "permissions": [
                    ("retry_run", "Can retry a failed source"),
                    ("complete_manual_run", "Can complete a manual search"),
                ],
            },
        ),
        migrations.RemoveConstraint(
            model_name="connectorrun",
            name="connector_run_unique",
        ),
        migrations.AddField(
            model_name="case",
            name="gathering",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="connectorrun",
            name="gathering",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddConstraint(
            model_name="connectorrun",
            constraint=models.UniqueConstraint(
                fields=("case", "gathering", "system", "round"), name="connector_run_unique"
            ),
        ),
    ]
