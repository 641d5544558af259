"""On PostgreSQL, the indexes of the back office's payment search (``payments.selectors.payments_search``).

- ``payment_customer_email_lower``: ``lower(customer_email)`` with ``text_pattern_ops``, so an exact or prefix
  match (``LIKE 'ali%'``) of the lower-cased email is an index range scan whatever the database's collation;
- ``payment_description_words``: a GIN index of the words of ``description`` (``to_tsvector('simple', …)``: no
  language's stemming or stop words, so order numbers and names are words like any other);
- ``payment_metadata_values``: a GIN index (``jsonb_path_ops``) of the array of ``metadata``'s values, so a value
  is found without knowing its key (``… @> '["ORD-1234"]'``).

The queries spell the same expressions, or PostgreSQL would not use the indexes. Built ``CONCURRENTLY`` (hence
not atomic): on a large payments table a plain CREATE INDEX would block every payment write until it finished.
SQLite has none of them: ``make run``'s search scans, which is fine at its size.
"""

from django.db import migrations

INDEXES = {
    "payment_customer_email_lower": "(lower(customer_email) text_pattern_ops)",
    "payment_description_words": "USING gin (to_tsvector('simple'::regconfig, description))",
    "payment_metadata_values": "USING gin (jsonb_path_query_array(metadata, '$.*'::jsonpath) jsonb_path_ops)",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON payments_payment {definition}", params=None
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("payments", "0013_customer_fields")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
