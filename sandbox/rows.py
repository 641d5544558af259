"""Inserting one row with a statement built once per model, for the rows every charge writes.

``insert(instance)`` does what ``Model.objects.create(**fields)`` does with ``Model(**fields)``: each field's
``pre_save`` (``auto_now_add``), its database representation (``get_db_prep_save``), the primary key read back
when the database chooses it, the instance marked as saved. Only the statement is not compiled again on every
call: it is built from the model's metadata once per model and database. On the charge path the ORM's query
building cost more CPU than the statements themselves (issue 14). The sandbox connects no model signals, so
skipping ``Model.save`` misses none.
"""

from functools import cache

from django.db import connections, models
from django.db.models.fields import AutoFieldMixin


@cache
def _insert_statement(model: type[models.Model], alias: str) -> tuple[str, tuple[models.Field, ...], bool]:
    """The INSERT of ``model`` on database ``alias``, the fields it writes in order, and whether it returns the key."""
    connection = connections[alias]
    meta = model._meta
    fields = tuple(
        field for field in meta.concrete_fields if not (field.primary_key and isinstance(field, AutoFieldMixin))
    )
    returns_key = len(fields) < len(meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    returning = f" RETURNING {quote(meta.pk.column)}" if returns_key else ""
    # Built from the model's own metadata, never from input; the values are parameters.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}){returning}"  # noqa: S608
    return sql, fields, returns_key


def insert(instance: models.Model, *, using: str = "default") -> models.Model:
    """INSERT ``instance`` as a new row (inside the caller's transaction, if any) and return it, saved."""
    sql, fields, returns_key = _insert_statement(type(instance), using)
    connection = connections[using]
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returns_key:
            instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = using
    return instance
