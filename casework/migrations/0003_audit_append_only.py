"""On PostgreSQL the audit tables refuse UPDATE and DELETE whoever asks (TRUNCATE stays
possible for the test suite's flushes; in production the application's role gets no TRUNCATE
privilege and does not own the tables)."""

from django.db import migrations

TABLES = ["casework_auditevent", "casework_auditcheckpoint"]

FUNCTION = """
CREATE OR REPLACE FUNCTION casework_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # no params: the % are plpgsql placeholders
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION casework_audit_append_only()"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS casework_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("casework", "0002_roles")]

    operations = [migrations.RunPython(forwards, backwards)]
