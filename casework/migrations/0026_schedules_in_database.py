"""Beat's schedules move from settings into the database (casework.schedules): one row per
schedule settings had, and the reminder job; the sweeps' interval from DSAR_SWEEP_INTERVAL as
it is set when this runs. Idempotent: a schedule that has a row keeps it."""

from django.db import migrations


def install(apps, schema_editor):
    from casework.schedules import install_schedules

    install_schedules(apps, using=schema_editor.connection.alias)


def remove(apps, schema_editor):
    from casework.schedules import remove_schedules

    remove_schedules(apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("casework", "0025_reminders"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, remove)]
