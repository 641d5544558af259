"""Database helpers shared by the services."""

import copy
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, models
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError
from django_fsm import ConcurrentTransition


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


def insert_unless_taken(obj: models.Model, *, synchronous_commit: bool = True) -> bool:
    """INSERT ``obj`` (a new row) unless a unique constraint already holds its values: True when inserted
    (an auto primary key is then set on ``obj``), False when the row was refused, with nothing written and
    the caller's transaction intact (``ON CONFLICT DO NOTHING``, PostgreSQL and SQLite alike).

    One statement where ``Model.objects.create`` inside a savepoint needs three (SAVEPOINT, INSERT, RELEASE),
    for the callers whose answer to a taken key is to read the row that took it. Like an INSERT that waits on
    the unique index, it waits for a concurrent transaction writing the same key, then decides.

    ``synchronous_commit=False``, outside a transaction on PostgreSQL: the statement's own commit does not
    wait for its WAL flush (``set_config`` in its RETURNING: no ``SET LOCAL`` round trip). A crash of the
    database can then lose the row; only for rows whose loss is safe."""
    meta = obj._meta
    statement = insert_statement([obj])
    quote = connection.ops.quote_name
    sql_text = f"{statement.sql} ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    if not synchronous_commit and connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Evaluated for the inserted row, inside the statement's own transaction, before its commit.
        sql_text += ", set_config('synchronous_commit', 'off', true)"
    with connection.cursor() as cursor:
        cursor.execute(sql_text, statement.params)
        row = cursor.fetchone()
    if row is None:
        obj._state.adding = True
        return False
    if meta.auto_field is not None and obj.pk is None:
        setattr(obj, meta.auto_field.attname, row[0])
    return True


# --- Reads compiled once ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CompiledRead:
    alias: str
    sql: str
    params: tuple
    positions: tuple[int, ...]  # where each of the read's values goes in ``params``
    for_update: bool
    model: type[models.Model]
    field_names: list[str]
    model_columns: slice
    related_populators: list
    converters: dict


class PreparedRead:
    """A read that runs on every request, compiled to SQL once per process and database, then sent with each
    call's values: the same SQL, instances and conversions as the queryset ``build(*values)`` evaluated by
    the ORM (``select_related`` objects attached, ``select_for_update`` refused outside a transaction), without
    compiling that queryset again each time, which costs more CPU than sending it.

    ``build`` takes the read's values, all strings (an id, a key's prefix), and uses each exactly once as the
    value of a lookup on a text column; a queryset with annotations, or a value the compiled SQL does not carry
    unchanged (``icontains`` wraps it in ``%``), is refused at its first call (``ImproperlyConfigured``), never
    answered wrongly."""

    def __init__(self, build: Callable[..., models.QuerySet]):
        self._build = build
        self._compiled: dict[str, _CompiledRead] = {}

    def all(self, *values: str) -> list[models.Model]:
        compiled = self._compiled.get(connection.alias) or self._compile(len(values))
        if compiled.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        for position, value in zip(compiled.positions, values, strict=True):
            params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return [self._instance(compiled, row) for row in rows]

    def first(self, *values: str) -> models.Model | None:
        found = self.all(*values)
        return found[0] if found else None

    def get(self, *values: str) -> models.Model:
        """The one row, or the model's ``DoesNotExist`` (like ``QuerySet.get``: more than one is an error)."""
        found = self.all(*values)
        if len(found) == 1:
            return found[0]
        model = self._compiled[connection.alias].model
        if not found:
            raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
        raise model.MultipleObjectsReturned(f"get() returned more than one {model._meta.object_name}.")

    def _instance(self, compiled: _CompiledRead, row: tuple) -> models.Model:
        if compiled.converters:
            row = list(row)
            for position, (converters, expression) in compiled.converters.items():
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
        instance = compiled.model.from_db(compiled.alias, compiled.field_names, row[compiled.model_columns])
        for populator in compiled.related_populators:
            populator.populate(row, instance)
        return instance

    def _compile(self, count: int) -> _CompiledRead:
        """The queryset's SQL, and where its values go in its parameters: it is built with placeholders that
        no constant of the query can equal, found again among the compiled parameters."""
        placeholders = [f"\x00prepared read value {n} {id(self)}\x00" for n in range(count)]
        queryset = self._build(*placeholders)
        compiler = queryset.query.get_compiler(connection=connection)
        sql_text, params = compiler.as_sql()
        positions = []
        for placeholder in placeholders:
            found = [index for index, param in enumerate(params) if param == placeholder]
            if len(found) != 1:
                raise ImproperlyConfigured(f"a prepared read must use each value once: {sql_text}")
            positions.append(found[0])
        if compiler.annotation_col_map or queryset.query.extra_select:
            raise ImproperlyConfigured("a prepared read reads model rows only")
        select, klass_info = compiler.select, compiler.klass_info
        columns = klass_info["select_fields"]
        model_columns = slice(columns[0], columns[-1] + 1)
        compiled = _CompiledRead(
            alias=connection.alias,
            sql=sql_text,
            params=tuple(params),
            positions=tuple(positions),
            for_update=queryset.query.select_for_update,
            model=klass_info["model"],
            field_names=[column[0].target.attname for column in select[model_columns]],
            model_columns=model_columns,
            related_populators=get_related_populators(klass_info, select, connection.alias),
            converters=compiler.get_converters([column[0] for column in select]),
        )
        self._compiled[connection.alias] = compiled
        return compiled


# --- Writes sent together ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """One INSERT or UPDATE, built from a model's fields, not yet sent.

    ``row`` names the one row an UPDATE of an instance writes (two writes of one row are never sent in one
    statement); ``rows`` is the number of rows the statement must write, checked when it is sent (``refused`` is
    raised otherwise); ``new`` holds an INSERT's instances, so that the waiting INSERTs of one model
    become one multi-row INSERT, whose rows take their serial ids in the order they were written."""

    sql: str
    params: tuple
    row: tuple[str, object] | None = None
    rows: int | None = None
    refused: Exception | None = None
    new: tuple[models.Model, ...] = ()


def _insertable(meta, obj: models.Model) -> list:
    # An auto primary key is left to the database, unless the instance carries one.
    return [
        field
        for field in meta.concrete_fields
        if (field is not meta.auto_field or obj.pk is not None) and not getattr(field, "generated", False)
    ]


def insert_statement(objs: Sequence[models.Model]) -> Statement:
    """The INSERT of new rows of one model, with the values ``save`` would write (defaults, ``auto_now_add``
    and each field's conversion for the database: ``pre_save`` then ``get_db_prep_save``, as Django's own
    compiler does for plain values). An auto primary key is not read back."""
    meta = objs[0]._meta
    fields = _insertable(meta, objs[0])
    params = []
    for obj in objs:
        params.extend(field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields)
        obj._state.adding = False
        obj._state.db = connection.alias
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(fields))})"
    # Only quoted identifiers from the model's own metadata are formatted in; every value is a parameter.
    text = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) VALUES "  # noqa: S608
    return Statement(text + ", ".join([row] * len(objs)), tuple(params), rows=len(objs), new=tuple(objs))


def update_statement(obj: models.Model, field_names: Iterable[str]) -> Statement:
    """The UPDATE of ``field_names`` of ``obj``'s row, with the values ``obj.save(update_fields=…)`` would
    write (``auto_now`` refreshed), refused unless it finds the row. For a django-fsm model with the
    ``ConcurrentTransitionMixin``, as that mixin writes it too: only where the state is still the one last
    read or written, refused with ``ConcurrentTransition`` otherwise."""
    meta = obj._meta
    fields = [meta.get_field(name) for name in field_names]
    values = [field.pre_save(obj, False) for field in fields]
    state_guard = getattr(obj, "_ConcurrentTransitionMixin__initial_states", None) or {}
    text, params = _update_sql(meta, fields, values, obj.pk, state_guard)
    if state_guard:
        refused = ConcurrentTransition(
            "Cannot save object! The state has been changed since fetched from the database!"
        )
    else:
        refused = DatabaseError(f"the UPDATE of {meta.label} {obj.pk} did not find its row")
    return Statement(text, tuple(params), row=(meta.db_table, obj.pk), rows=1, refused=refused)


def update_row_statement(model: type[models.Model], pk, values: dict, *, where: dict | None = None) -> Statement:
    """The UPDATE of one row's fields to ``values`` (plain values, each converted as a save converts it) where
    its primary key is ``pk`` and each field in ``where`` holds the value given (``None``: is null); whether it
    finds the row or not. What ``model.objects.filter(pk=pk, **where).update(**values)`` sends, built from the
    fields instead of compiling a queryset on every request."""
    meta = model._meta
    text, params = _update_sql(meta, [meta.get_field(name) for name in values], values.values(), pk, where or {})
    return Statement(text, tuple(params))


def _update_sql(meta, fields: list, values: Iterable, pk, where: dict) -> tuple[str, list]:
    """``UPDATE … SET`` the fields to the values (converted for the database) ``WHERE`` the primary key is ``pk``
    and each field named in ``where`` holds its value (``None``: is null)."""
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    conditions = [f"{quote(meta.pk.column)} = %s"]
    params.append(meta.pk.get_db_prep_value(pk, connection))
    for name, value in where.items():
        field = meta.get_field(name)
        if value is None:
            conditions.append(f"{quote(field.column)} IS NULL")
        else:
            conditions.append(f"{quote(field.column)} = %s")
            params.append(field.get_db_prep_value(value, connection))
    # Only quoted identifiers from the model's own metadata are formatted in; every value is a parameter.
    return f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {' AND '.join(conditions)}", params  # noqa: S608


def _check(statement: Statement, written: int) -> None:
    if statement.rows is not None and written != statement.rows:
        raise statement.refused or DatabaseError(f"{written} rows written, not {statement.rows}")


def _send_one(cursor, statement: Statement) -> None:
    cursor.execute(statement.sql, statement.params)
    _check(statement, cursor.rowcount)


class _Waiting:
    """The writes of a ``writes_together`` block not yet sent."""

    def __init__(self):
        self.statements: list[Statement] = []
        self.rows: set[tuple[str, object]] = set()
        self.sending = False

    def add(self, statement: Statement) -> None:
        if statement.row is not None and statement.row in self.rows:
            self.send()  # a second write of one row: the first must be in the database before it
        if statement.new:
            for index, waiting in enumerate(self.statements):
                if waiting.new and type(waiting.new[0]) is type(statement.new[0]):
                    merged = _merged_inserts(waiting, statement)
                    if merged is not None:
                        self.statements[index] = merged
                        return
                    self.send()  # other columns (a primary key given): the rows written so far go first
                    break
        self.statements.append(statement)
        if statement.row is not None:
            self.rows.add(statement.row)

    def send(self) -> None:
        statements, self.statements, self.rows = self.statements, [], set()
        if not statements:
            return
        self.sending = True
        try:
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql" and len(statements) > 1:
                    cursor.execute(
                        _together_sql(statements), [param for statement in statements for param in statement.params]
                    )
                    for statement, written in zip(statements, cursor.fetchone(), strict=True):
                        _check(statement, written)
                else:
                    for statement in statements:
                        _send_one(cursor, statement)
        finally:
            self.sending = False

    def send_before(self, execute, sql_text, params, many, context):
        """The connection's execute wrapper: any other statement first sends the waiting writes, so it sees
        them, exactly as if each write had been sent when it was made."""
        if self.statements and not self.sending:
            self.send()
        return execute(sql_text, params, many, context)


def _merged_inserts(first: Statement, then: Statement) -> Statement | None:
    """One INSERT of both statements' rows, ``first``'s first, when they write the same columns of one table;
    their values as already converted (the rows are not built again)."""
    head = first.sql[: first.sql.index(" VALUES ") + len(" VALUES ")]
    if not then.sql.startswith(head):
        return None
    return Statement(
        f"{first.sql}, {then.sql[len(head) :]}",
        first.params + then.params,
        rows=first.rows + then.rows,
        new=first.new + then.new,
    )


def _together_sql(statements: list[Statement]) -> str:
    """Data-modifying WITH clauses: each runs exactly once, to completion, in one statement, whose answer is
    the number of rows each wrote. Foreign keys are checked at its end, so a row may refer to one inserted
    beside it. (The clauses' order of execution is not defined: hence one INSERT per table.)"""
    clauses = ", ".join(f"write_{n} AS ({statement.sql} RETURNING 1)" for n, statement in enumerate(statements))
    counts = ", ".join(f"(SELECT count(*) FROM write_{n})" for n in range(len(statements)))  # noqa: S608
    return f"WITH {clauses} SELECT {counts}"


_waiting: ContextVar[_Waiting | None] = ContextVar("core_db_waiting_writes", default=None)


def write(statement: Statement) -> None:
    """Send ``statement`` now, or, inside a ``writes_together`` block, with the block's other writes."""
    waiting = _waiting.get()
    if waiting is not None:
        waiting.add(statement)
        return
    with connection.cursor() as cursor:
        _send_one(cursor, statement)


@contextmanager
def writes_together():
    """Within this block (inside a transaction), the writes made through ``write`` wait, and go to the
    database as ONE statement (PostgreSQL's data-modifying ``WITH``) when the block ends or just before
    any other statement is sent, whichever comes first: one round trip instead of one per write.

    Nothing else changes: a read made in the block still sees every write made before it (the waiting
    writes go first), two writes of one row are sent in order, and a write's error surfaces, at the latest,
    when the block ends, inside the caller's transaction. Writes waiting when the block raises are dropped:
    the transaction they belong to is being rolled back. A block inside another joins it."""
    if _waiting.get() is not None:
        yield
        return
    waiting = _Waiting()
    token = _waiting.set(waiting)
    try:
        with connection.execute_wrapper(waiting.send_before):
            yield
            waiting.send()
    finally:
        _waiting.reset(token)


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

    def save_changes(self) -> None:
        """Write what differs from the row (``changed_fields``), or the whole row when there is none yet,
        through ``write``: at once, or with the other writes of a ``writes_together`` block."""
        if self._state.adding:
            write(insert_statement([self]))
            self._remember_stored(None)
        else:
            names = self.changed_fields()
            write(update_statement(self, names))
            self._remember_stored(names)
        # django-fsm's ConcurrentTransitionMixin guards the next write with the state this one wrote.
        update_initial_state = getattr(self, "_update_initial_state", None)
        if update_initial_state is not None:
            update_initial_state()

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
