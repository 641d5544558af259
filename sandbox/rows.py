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

# Field classes (exactly these, not subclasses) whose get_db_prep_save gives back a value of this Python type (or
# None) unchanged, on every backend: such a value needs no preparation. Preparing each field of a charge row one by
# one was a tenth of the charge's CPU. Any other field, or value, is prepared as Model.save prepares it.
_UNCHANGED_BY_PREPARATION: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
}


@cache
def _insert_statement(
    model: type[models.Model], alias: str
) -> tuple[str, tuple[tuple[models.Field, type | None], ...], bool]:
    """The INSERT of ``model`` on database ``alias``; the fields it writes in order, each with the type of value
    it takes unprepared (or None); and whether it returns the key."""
    connection = connections[alias]
    meta = model._meta
    fields = tuple(
        (field, _UNCHANGED_BY_PREPARATION.get(type(field)))
        for field in meta.concrete_fields
        if not (field.primary_key and isinstance(field, AutoFieldMixin))
    )
    returns_key = len(fields) < len(meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field, _ in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    returning = f" RETURNING {quote(meta.pk.column)}" if returns_key else ""
    # Built from the model's own metadata, never from input; the values are parameters.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}){returning}"  # noqa: S608
    return sql, fields, returns_key


def insert(instance: models.Model, *, using: str = "default") -> models.Model:
    """INSERT ``instance`` as a new row (inside the caller's transaction, if any) and return it, saved."""
    sql, fields, returns_key = _insert_statement(type(instance), using)
    connection = connections[using]
    params = []
    for field, unchanged_type in fields:
        value = field.pre_save(instance, True)
        if unchanged_type is None or (value is not None and type(value) is not unchanged_type):
            value = field.get_db_prep_save(value, connection)
        params.append(value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returns_key:
            instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = using
    return instance
