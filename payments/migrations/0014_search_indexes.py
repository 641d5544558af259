"""On PostgreSQL, the indexes of the back office's payment search (``payments.selectors.payments_search``).

- ``payment_customer_email_lower``: ``lower(customer_email)`` with ``text_pattern_ops``, so an exact or prefix
  match (``LIKE 'ali%'``) of the lower-cased email is an index range scan whatever the database's collation;
- ``payment_description_words``: a GIN index of the words of ``description`` (``to_tsvector('simple', …)``: no
  language's stemming or stop words, so order numbers and names are words like any other);
- ``payment_metadata_values``: a GIN index (``jsonb_path_ops``) of the array of ``metadata``'s values, so a value
  is found without knowing its key (``… @> '["ORD-1234"]'``).

and ``payment_search_words(term)``: the term cut into words by the same parser as the descriptions, each word
quoted and a prefix (``'sweat':*`` finds "sweater"), as a ``tsquery``. IMMUTABLE, so PostgreSQL computes it once
while planning, and estimates how many payments it finds from the index's statistics: a query written inline
(a sub-select) is a parameter the planner cannot see, estimated at 5,000 rows, for which it would rather walk
the primary key newest first, re-parsing every description, than read the index (12 s at 1,000,000 payments).

The queries spell the same expressions, or PostgreSQL would not use the indexes. Built ``CONCURRENTLY`` (hence
not atomic): on a large payments table a plain CREATE INDEX would block every payment write until it finished.
SQLite has none of them: ``make run``'s search scans, which is fine at its size.
"""

from django.db import migrations

# Partial: a payment without an email, a description or metadata costs its INSERT and UPDATEs nothing in them
# (every transition of a payment is an UPDATE that is not HOT, status being indexed, so it enters every index
# again). The queries' conditions imply the predicates: a strict function of a column is not true on a NULL, and
# the metadata query says ``metadata <> '{}'`` itself.
INDEXES = {
    "payment_customer_email_lower": "(lower(customer_email) text_pattern_ops) WHERE customer_email IS NOT NULL",
    "payment_description_words": (
        "USING gin (to_tsvector('simple'::regconfig, description)) WHERE description IS NOT NULL"
    ),
    "payment_metadata_values": (
        "USING gin (jsonb_path_query_array(metadata, '$.*'::jsonpath) jsonb_path_ops) WHERE metadata <> '{}'::jsonb"
    ),
}


SEARCH_WORDS = """
CREATE OR REPLACE FUNCTION payment_search_words(term text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_tsquery('simple'::regconfig, coalesce(string_agg(quote_literal(lexeme) || ':*', ' & '), ''))
    FROM unnest(to_tsvector('simple'::regconfig, term))
$$
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SEARCH_WORDS, params=None)
    for name, definition in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON payments_payment {definition}", params=None
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS payment_search_words(text)", params=None)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("payments", "0013_customer_fields")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
