"""PostgreSQL statistics on the day (UTC) of a payment's creation, for the dashboard's payments by day
(``backoffice.dashboard.payments_by_day``).

Without them the planner cannot know how many days a ``GROUP BY (created AT TIME ZONE 'UTC')::date`` makes, takes
every row for a group of its own, and sorts the 30 days' payments on disk instead of hashing them into a few hundred
groups: 2.0 s against 0.4 s at one million payments (docs/performance.md, ``make bench-dashboard``). ``ANALYZE``
(autovacuum's, or the one below) fills them. Nothing on SQLite.
"""

from django.db import migrations

STATISTICS = "payment_created_day_stats"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} ON ((created AT TIME ZONE 'UTC')::date) "
            "FROM payments_payment"
        )
        schema_editor.execute("ANALYZE payments_payment")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0004_create_payouts_permission"),
        ("payments", "0012_processors_and_routing"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
