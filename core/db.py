"""Database helpers shared by the services."""

import copy

from django.db import connection, models


def in_transaction() -> bool:
    """True inside a transaction that a service (not the test framework) opened.

    Django's TestCase wraps each test in atomic blocks marked ``_from_testcase``;
    they stand in for autocommit, so they do not count.
    """
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def assert_no_transaction(what: str) -> None:
    """Refuse to make a network call (``what``) while a transaction holds locks."""
    if in_transaction():
        raise RuntimeError(f"{what} must never happen inside a database transaction")


def insert_unless_taken(obj: models.Model) -> bool:
    """INSERT ``obj`` (a new row, its primary key set) unless a unique constraint already holds its values:
    True when inserted, False when the row was refused, with nothing written and the caller's transaction
    intact (``ON CONFLICT DO NOTHING``, PostgreSQL and SQLite alike).

    One statement where ``Model.objects.create`` inside a savepoint needs three (SAVEPOINT, INSERT, RELEASE),
    for the callers whose answer to a taken key is to read the row that took it. Like an INSERT that waits on
    the unique index, it waits for a concurrent transaction writing the same key, then decides."""
    meta = obj._meta
    fields = [field for field in meta.concrete_fields if not getattr(field, "generated", False)]
    quote = connection.ops.quote_name
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    # Only quoted identifiers from the model's own metadata are formatted in; every value is a parameter.
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) ON CONFLICT DO NOTHING"  # noqa: S608
    sql += f" RETURNING {quote(meta.pk.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = cursor.fetchone() is not None
    if inserted:
        obj._state.adding = False
        obj._state.db = connection.alias
    return inserted


class SavesChangedFields(models.Model):
    """A model that knows which of its fields changed since it was read from or written to the database.

    ``changed_fields()`` names them (with the ``auto_now`` fields, which every save refreshes), so a save can
    write those columns only (``save(update_fields=…)``) instead of the whole row: what it writes is exactly
    what differs from the row, whoever changed the instance (a transition, or its caller before it). A field
    holding a dict or a list (JSON) is compared with a copy taken at the read, so a change made in place counts.
    """

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        self._remember_stored(kwargs.get("update_fields"))

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._remember_stored(None)
        return instance

    def refresh_from_db(self, *args, **kwargs) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._remember_stored(kwargs.get("fields"))

    def changed_fields(self) -> list[str]:
        """The names of the fields whose value differs from the row's, plus the ``auto_now`` fields.

        Every concrete field when the instance was never read or written (nothing to compare with)."""
        stored = self.__dict__.get("_stored_values")
        names = []
        for field in self._meta.concrete_fields:
            if field.primary_key:
                continue
            value = self.__dict__.get(field.attname, _DEFERRED)
            if value is _DEFERRED:
                continue
            if stored is None or getattr(field, "auto_now", False) or stored.get(field.attname, _DEFERRED) != value:
                names.append(field.name)
        return names

    def _remember_stored(self, field_names) -> None:
        fields = self._meta.concrete_fields
        if field_names is not None:
            wanted = set(field_names)
            fields = [field for field in fields if field.name in wanted or field.attname in wanted]
        # A new dict each time: a copy of the instance (copy.copy) must not share it.
        stored = dict(self.__dict__.get("_stored_values") or {}) if field_names is not None else {}
        for field in fields:
            value = self.__dict__.get(field.attname, _DEFERRED)
            if value is not _DEFERRED:
                stored[field.attname] = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
        self._stored_values = stored


_DEFERRED = object()
