"""The dashboard's rollups (casework.models.figures), their triggers on the case table
(casework.rollups) and their first count from the cases already there; indexes for the figures
that stay live (open cases, connector health)."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    # The triggers' SQL is casework.rollups' of today, written against the tables below: a
    # later change to the rollups' tables or SQL comes with its own migration that installs
    # and rebuilds them again (and freezes this one's SQL if the older tables no longer fit).
    from casework import rollups

    rollups.install(schema_editor.connection)
    rollups.rebuild(schema_editor.connection)


def backwards(apps, schema_editor):
    from casework import rollups

    rollups.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("casework", "0030_opt_out_and_disclosure")]

    operations = [
        migrations.CreateModel(
            name="CaseMonthFigures",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "month",
                    models.DateField(help_text="The first day of the controller's local month."),
                ),
                ("regime", models.CharField(max_length=20)),
                ("request_type", models.CharField(max_length=20)),
                ("channel", models.CharField(max_length=20)),
                ("assignee_id", models.IntegerField(default=0)),
                ("received", models.IntegerField(default=0)),
                ("received_answered", models.IntegerField(default=0)),
                ("received_in_time", models.IntegerField(default=0)),
                ("received_extended", models.IntegerField(default=0)),
                ("received_refused", models.IntegerField(default=0)),
                ("received_open", models.IntegerField(default=0)),
                ("answered", models.IntegerField(default=0)),
                ("answered_in_time", models.IntegerField(default=0)),
                ("refused", models.IntegerField(default=0)),
                ("refused_unfounded", models.IntegerField(default=0)),
                ("extended", models.IntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "regime", "request_type", "channel", "assignee_id"),
                        name="case_month_figures_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="CaseCloseDays",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "month",
                    models.DateField(help_text="The first day of the controller's local month."),
                ),
                ("regime", models.CharField(max_length=20)),
                ("request_type", models.CharField(max_length=20)),
                ("assignee_id", models.IntegerField(default=0)),
                ("days", models.IntegerField()),
                ("answered", models.IntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "regime", "request_type", "assignee_id", "days"),
                        name="case_close_days_key",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="CaseGrounds",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="The first day of the controller's local month.")),
                ("kind", models.CharField(choices=[("refusal", "Refusal"), ("extension", "Extension")], max_length=10)),
                ("regime", models.CharField(max_length=20)),
                ("request_type", models.CharField(max_length=20)),
                ("assignee_id", models.IntegerField(default=0)),
                ("reason_key", models.CharField(max_length=32)),
                ("reason", models.TextField()),
                ("cases", models.IntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "kind", "regime", "request_type", "assignee_id", "reason_key"),
                        name="case_grounds_key",
                    )
                ],
            },
        ),
        migrations.RunPython(forwards, backwards),
        # The live figures of open cases and connector health, at a million cases.
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("state__in", ["received", "verified", "awaiting_subject", "gathering", "needs_identifier", "in_review", "fulfilling"])),
                fields=["state", "request_type"],
                include=("due_at", "regime", "assignee", "review_completed_at"),
                name="case_open_figures",
            ),
        ),
        migrations.AddIndex(
            model_name="connectorrun",
            index=models.Index(fields=["created_at"], include=("system", "state", "duration_ms"), name="connector_run_health"),
        ),
    ]
