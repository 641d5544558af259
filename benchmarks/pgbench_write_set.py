"""The pgbench figure of `make bench`: PostgreSQL doing exactly the SQL of one create-and-confirm, and nothing else.

The script is derived from the code, never written by hand, so it follows the write path as it changes:

1. **Capture.** In a process configured like the web (``capture_main``, run by ``compare_with_pgbench``), Django's
   test client sends create-and-confirm requests (``confirm: true``, ``tok_visa``, a fresh ``Idempotency-Key``)
   to the sandbox. Every statement that reaches PostgreSQL is recorded as sent: the psycopg connection's cursor
   class is replaced by a recording subclass, so Django's statements (with their parameters bound by
   ``ClientCursor.mogrify``), its savepoints and its per-request health check (``SELECT 1``, which bypasses
   Django's execute wrappers) are all seen; psycopg's own ``BEGIN`` (sent before the first statement of a
   transaction when autocommit is off) and Django's commits and rollbacks are recorded where they happen.
   ``close_old_connections`` runs around each request, as Django's request signals do in a server.
2. **Derive.** Two consecutive requests that sent the same statements are compared literal by literal. What
   differs is what one payment makes fresh: the identifiers it created (``pay_…``, ``evt_…``, ``txn_…``, the
   processor's ``ch_…``: a prefix and a ULID; the ``Idempotency-Key``: a UUID), and the integers PostgreSQL
   generated (``RETURNING "id"``) that later statements name. Each identifier becomes a string of the same shape
   and length built from a pgbench variable unique per run, client and transaction; each generated integer is
   read back with ``\\gset`` from the statement that returned it. Everything else that differs (timestamps,
   the stored response body, savepoint names) is kept as the first request sent it: the same bytes, the same work.
3. **Run.** ``pgbench -M simple`` (the simple query protocol, as psycopg's ``ClientCursor`` sends) runs the script
   at the bench's concurrency against the bench's migrated database: one pgbench transaction is one payment's
   statements, with the same ``BEGIN``/``COMMIT`` boundaries, the same statements in autocommit, the same
   ``SET LOCAL synchronous_commit TO OFF``, and the reads (API key, routing rules, ``SELECT … FOR UPDATE``,
   ledger accounts, the health check) kept, because they are part of the work.

What pgbench leaves out is everything that is not PostgreSQL's: HTTP, Django, the sandbox. So pgbench's rate is
the database's ceiling for this write set on this machine, and the ratio says how far the platform is from it.

    .venv/bin/python -m benchmarks.pgbench_write_set --api-key sk_… --out script.sql   (with the web's environment)
"""

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from benchmarks.common import ROOT, CpuMeter, postgres_processes

BODY = json.dumps(
    {"amount": 1999, "currency": "USD", "confirm": True, "payment_method": {"type": "card", "token": "tok_visa"}}
)
BEGIN, COMMIT, ROLLBACK = "BEGIN", "COMMIT", "ROLLBACK"

# One SQL text split so that literals can be compared: a string literal, a quoted identifier, a run of digits, or
# anything else (keywords, names, punctuation).
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\d+|[^'\"\d]+")
# The identifiers a request makes: a lower-case prefix and a ULID (core.ids), or a UUID (the Idempotency-Key).
_ULID_ID = re.compile(r"(?<![A-Za-z0-9])([a-z]+_)[0-9A-HJKMNP-TV-Z]{26}(?![A-Za-z0-9])")
_UUID = re.compile(r"(?<![A-Za-z0-9-])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![A-Za-z0-9-])")
_COMMENT = re.compile(r"--[^\n]*")
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_]")
_SYNCHRONOUS_COMMIT_OFF = re.compile(r"synchronous_commit\W+(?:TO\W+)?'?off", re.IGNORECASE)
_WRITE = re.compile(r"^\s*(?:WITH\b.*\b)?(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE | re.DOTALL)

# pgbench variables: a per-client counter and a per-run number (set with -D), and the unique number of one
# transaction, always 12 digits (10^11 + run·10^9 + client·10^6 + counter, for run < 100, client < 1000 and
# fewer than 10^6 payments per client and run).
UNIQUE = "ws_unique"
UNIQUE_DIGITS = 12
_SCRIPT_HEAD = (
    f"\\set ws_seq :ws_seq + 1\n\\set {UNIQUE} 100000000000 + :ws_run * 1000000000 + :client_id * 1000000 + :ws_seq\n"
)


@dataclass
class Sent:
    """One thing sent to PostgreSQL: ``BEGIN``, ``COMMIT``, ``ROLLBACK`` or a statement (``sql``, bound), with the
    rows it returned (text, ``None`` for NULL) and whether it ran in autocommit (its own transaction)."""

    sql: str
    rows: list[list[str | None]] = field(default_factory=list)
    autocommit: bool = False

    @property
    def is_statement(self) -> bool:
        return self.sql not in (BEGIN, COMMIT, ROLLBACK)


class DerivationError(RuntimeError):
    """The captured requests cannot be turned into a pgbench script that writes the same rows afresh."""


# --- 1. Capture --------------------------------------------------------------------------------------------------


class Recorder:
    """Records everything the Django connection sends while ``recording`` is on (see the module's docstring)."""

    def __init__(self, connection):
        self.connection = connection
        self.sent: list[Sent] = []
        self.recording = False
        self._commit, self._rollback = connection.commit, connection.rollback
        connection.commit, connection.rollback = self._committed(COMMIT), self._committed(ROLLBACK)

    def _committed(self, what: str):
        original = self._commit if what == COMMIT else self._rollback

        def end_transaction():
            in_transaction = self._in_transaction()
            result = original()
            if self.recording and in_transaction:
                self.sent.append(Sent(what))
            return result

        return end_transaction

    def _in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        raw = self.connection.connection
        return raw is not None and raw.info.transaction_status != TransactionStatus.IDLE

    def install(self) -> None:
        """Give the connection's psycopg connection the recording cursor class (again after a reconnection)."""
        self.connection.ensure_connection()
        raw = self.connection.connection
        if getattr(raw.cursor_factory, "_records_for", None) is self:
            return
        recorder, base = self, raw.cursor_factory

        class RecordingCursor(base):
            _records_for = recorder

            def execute(self, query, params=None, **kwargs):
                return recorder._execute(self, super().execute, query, params, kwargs)

            def executemany(self, query, params_seq, **kwargs):
                result = None
                for params in params_seq:  # one statement per parameter set, as PostgreSQL receives them
                    result = recorder._execute(self, super().execute, query, params, {})
                return result

        raw.cursor_factory = RecordingCursor

    def _execute(self, cursor, execute, query, params, kwargs):
        if not self.recording:
            return execute(query, params, **kwargs)
        import psycopg

        raw = cursor.connection
        starts_transaction = not raw.autocommit and not self._in_transaction()
        sql = psycopg.ClientCursor(raw).mogrify(query, params)
        result = execute(query, params, **kwargs)
        if starts_transaction:
            self.sent.append(Sent(BEGIN))
        rows = []
        pgresult = cursor.pgresult  # read without moving the cursor: the caller still fetches every row
        if pgresult is not None:
            for row in range(pgresult.ntuples):
                values = (pgresult.get_value(row, column) for column in range(pgresult.nfields))
                rows.append([None if value is None else value.decode() for value in values])
        self.sent.append(Sent(sql, rows, autocommit=raw.autocommit))
        return result


def capture(client, recorder: Recorder, requests: int) -> list[list[Sent]]:
    """What each of ``requests`` create-and-confirms sent, one list per request, as a server would send it."""
    from django.db import close_old_connections

    captured = []
    for _ in range(requests):
        close_old_connections()  # request_started: the next statement checks the connection first
        recorder.install()
        recorder.sent, recorder.recording = [], True
        try:
            response = client.post(
                "/api/v1/payments", data=BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
            )
        finally:
            recorder.recording = False
        close_old_connections()  # request_finished
        if response.status_code != 201 or response.json()["status"] != "succeeded":
            raise DerivationError(f"the create-and-confirm failed: {response.status_code} {response.content[:300]!r}")
        captured.append(recorder.sent)
    return captured


# --- 2. Derive ---------------------------------------------------------------------------------------------------


def skeleton(sent: list[Sent]) -> list[str]:
    """The statements without their literals: equal for two requests that took the same path."""
    return [
        "".join("?" if token[0] in "'\"" or token.isdigit() else token for token in _TOKEN.findall(item.sql))
        for item in sent
    ]


def same_path_pair(captured: list[list[Sent]]) -> tuple[list[Sent], list[Sent]]:
    """The first two consecutive requests that sent the same statements (a once-a-minute write, such as the API
    key's last use, can make one request differ)."""
    for first, second in zip(captured, captured[1:], strict=False):
        if skeleton(first) == skeleton(second):
            return first, second
    raise DerivationError("no two consecutive requests sent the same statements")


def _fresh(identifier: str, number: int) -> str:
    """A string of ``identifier``'s shape and length that holds ``:ws_unique`` (12 digits once substituted)."""
    variable = ":" + UNIQUE
    if _UUID.fullmatch(identifier):
        return f"{number:08x}-0000-4000-8000-{variable}"
    prefix = _ULID_ID.fullmatch(identifier).group(1)
    filler = 26 - 2 - UNIQUE_DIGITS
    return f"{prefix}{number:02d}{'W' * filler}{variable}"


def _identifiers(sent: list[Sent]) -> list[str]:
    found: dict[str, None] = {}
    for item in sent:
        for literal in (token for token in _TOKEN.findall(item.sql) if token.startswith("'")):
            for match in (*_ULID_ID.finditer(literal), *_UUID.finditer(literal)):
                found[match.group(0)] = None
    return list(found)


def _replace_identifiers(literal: str, fresh: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        value = match.group(0)
        if value not in fresh:
            return value
        following = literal[match.end() : match.end() + 1]
        if _IDENTIFIER_CHAR.fullmatch(following or " "):
            raise DerivationError(f"{value!r} is followed by {following!r}: pgbench would read a longer variable name")
        return fresh[value]

    return _UUID.sub(replace, _ULID_ID.sub(replace, literal))


@dataclass
class WriteSetScript:
    """A pgbench script for one payment's statements, and what it holds."""

    text: str
    statements: int
    transactions: int
    durable_commits: int
    fresh_identifiers: list[str]
    generated_values: list[str]


def transactions_of(sent: list[Sent]) -> tuple[int, int]:
    """(transactions, durable commits) of one request: each ``BEGIN`` … ``COMMIT``/``ROLLBACK`` and each statement
    in autocommit is a transaction; a commit is durable when it writes and did not turn ``synchronous_commit`` off
    (a transaction that only reads has nothing to flush)."""
    transactions = durable = 0
    writes = asynchronous = False
    for item in sent:
        if item.sql == BEGIN:
            writes = asynchronous = False
        elif item.sql in (COMMIT, ROLLBACK):
            transactions += 1
            durable += item.sql == COMMIT and writes and not asynchronous
        elif item.autocommit:
            transactions += 1
            durable += bool(_WRITE.match(item.sql)) and not _SYNCHRONOUS_COMMIT_OFF.search(item.sql)
        else:
            writes = writes or bool(_WRITE.match(item.sql))
            asynchronous = asynchronous or bool(_SYNCHRONOUS_COMMIT_OFF.search(item.sql))
    return transactions, durable


def derive_script(first: list[Sent], second: list[Sent]) -> WriteSetScript:
    """The pgbench script that sends ``first``'s statements with fresh identifiers (see the module's docstring);
    ``second``, a request that took the same path, tells what is per payment."""
    if skeleton(first) != skeleton(second):
        raise DerivationError("the two requests did not send the same statements")
    own = [value for value in _identifiers(first) if value not in set(_identifiers(second))]
    fresh = {value: _fresh(value, number) for number, value in enumerate(own)}
    lines = [_SCRIPT_HEAD]
    needed: dict[int, str] = {}  # statement index -> \gset prefix
    generated: list[str] = []
    statements = []
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        if not a.is_statement:
            statements.append(a.sql)
            continue
        tokens_a, tokens_b = _TOKEN.findall(a.sql), _TOKEN.findall(b.sql)
        out = []
        for token_a, token_b in zip(tokens_a, tokens_b, strict=True):
            if token_a.startswith("'"):
                out.append(_replace_identifiers(token_a, fresh))
            elif token_a.isdigit() and token_a != token_b:
                out.append(_generated_by(first, index, token_a, needed, generated))
            elif token_a.startswith('"') or token_a.isdigit():
                out.append(token_a)  # equal, or a savepoint's name
            else:  # SQL itself: one line, so that the script holds one command a line
                out.append(" ".join(_COMMENT.sub("", token_a).split()) if "\n" in token_a else token_a)
        statements.append("".join(out))
    for index, sql in enumerate(statements):
        lines.append(f"{sql} \\gset {needed[index]}\n" if index in needed else f"{sql};\n")
    transactions, durable = transactions_of(first)
    return WriteSetScript(
        text="".join(lines),
        statements=sum(item.is_statement for item in first),
        transactions=transactions,
        durable_commits=durable,
        fresh_identifiers=own,
        generated_values=generated,
    )


def _generated_by(sent: list[Sent], before: int, value: str, needed: dict[int, str], generated: list[str]) -> str:
    """``:variable`` for an integer that differs between the two requests: a value an earlier statement of the same
    request returned (one row), read back with ``\\gset`` in the script."""
    for index in range(before - 1, -1, -1):
        rows = sent[index].rows
        if len(rows) == 1 and value in rows[0]:
            prefix = needed.setdefault(index, f"ws_r{index}_")
            column = rows[0].index(value)
            variable = f"{prefix}{_returned_column(sent[index].sql, column)}"
            if variable not in generated:
                generated.append(variable)
            return ":" + variable
    raise DerivationError(f"the integer {value} differs between payments but no earlier statement returned it")


def _returned_column(sql: str, column: int) -> str:
    """The name pgbench's ``\\gset`` gives column ``column`` of ``sql``'s result: its last name, unquoted."""
    returning = re.search(r"\bRETURNING\b(.*)$", sql, re.IGNORECASE | re.DOTALL)
    select = re.match(r"\s*SELECT\b(.*?)\bFROM\b", sql, re.IGNORECASE | re.DOTALL)
    listed = (returning or select).group(1) if (returning or select) else ""
    names = [part.strip() for part in listed.split(",")]
    if column >= len(names) or not names[column]:
        raise DerivationError(f"cannot name column {column} of {sql[:120]!r}")
    name = names[column].split()[-1].split(".")[-1].strip('"')
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise DerivationError(f"column {column} of {sql[:120]!r} has no name pgbench can use: {name!r}")
    return name


def script_counts(text: str) -> tuple[int, int]:
    """(statements, BEGIN…COMMIT blocks) of a script written by ``derive_script``: one command per line, once the
    literals (which may hold line breaks) are set aside."""
    literals_out = "".join("''" if token[0] in "'\"" else token for token in _TOKEN.findall(text))
    commands = [line for line in literals_out.splitlines() if line and not line.startswith("\\")]
    blocks = sum(line == "BEGIN;" for line in commands)
    return len(commands) - blocks - sum(line in ("COMMIT;", "ROLLBACK;") for line in commands), blocks


# --- The capture process -----------------------------------------------------------------------------------------


def capture_main() -> None:
    """Run with the web's environment (DATABASE_URL, PROCESSOR_BASE_URL…): capture, derive, write the script."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=6, help="captured after a warm-up of as many")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {args.api_key}")
    recorder = Recorder(connection)
    capture(client, recorder, args.requests)  # warm-up: caches, the API key's last use
    first, second = same_path_pair(capture(client, recorder, args.requests))
    script = derive_script(first, second)
    args.out.write_text(script.text)
    summary = {key: value for key, value in vars(script).items() if key != "text"}
    print("WRITE_SET " + json.dumps(summary))


# --- 3. Run ------------------------------------------------------------------------------------------------------


def pgbench_command(
    database_url: str, script: Path, connections: int, seconds: float | None = None, transactions: int | None = None
) -> list[str]:
    """pgbench with ``script`` at ``connections`` clients, for ``seconds`` or ``transactions`` per client."""
    url = urlsplit(database_url)
    command = ["pgbench", "--no-vacuum", "--protocol", "simple", "--file", str(script)]
    command += ["--client", str(connections), "--jobs", str(min(2, connections))]
    command += ["--transactions", str(transactions)] if transactions else ["--time", str(max(1, round(seconds)))]
    command += ["--define", "ws_seq=0", "--define", f"ws_run={secrets.randbelow(100)}"]
    command += ["--host", url.hostname or "127.0.0.1", "--port", str(url.port or 5432)]
    if url.username:
        command += ["--username", unquote(url.username)]
    return [*command, url.path.lstrip("/")]


def compare_with_pgbench(
    env: dict, database_url: str, database: str, api_key: str, connections: int, seconds: float, folder: Path
) -> dict:
    """Derive the script from the code (a capture process with ``env``, the web's), run pgbench with it at
    ``connections`` clients for ``seconds``; return its payments/s and the CPU of PostgreSQL and of pgbench."""
    if not shutil.which("pgbench"):
        raise DerivationError("pgbench is not installed (Debian: postgresql-client)")
    folder.mkdir(parents=True, exist_ok=True)
    script_path = folder / "create_and_confirm.pgbench.sql"
    captured = subprocess.run(
        [sys.executable, "-m", "benchmarks.pgbench_write_set", "--api-key", api_key, "--out", str(script_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = [line for line in captured.stdout.splitlines() if line.startswith("WRITE_SET ")]
    if captured.returncode != 0 or not summary:
        raise DerivationError(f"the capture failed ({captured.returncode}):\n{captured.stderr[-3000:]}")
    write_set = json.loads(summary[-1].removeprefix("WRITE_SET "))
    load: list[int] = []
    wal_began = _wal_position(database_url)
    meter = CpuMeter({"PostgreSQL": lambda: postgres_processes(database), "pgbench": lambda: load}).start()
    command = pgbench_command(database_url, script_path, connections, seconds=seconds)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    load.append(process.pid)
    output, _ = process.communicate()
    cpu = meter.stop()
    wal_bytes = _wal_position(database_url) - wal_began
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if process.returncode != 0 or processed is None or (failed and int(failed.group(1))):
        raise DerivationError(f"pgbench failed ({process.returncode}):\n{output[-3000:]}")
    payments = int(processed.group(1))
    return {
        **write_set,
        "script": str(script_path),
        "payments": payments,
        "seconds": meter.seconds,
        "cpu": cpu,
        "wal_bytes": wal_bytes,
    }


def _wal_position(database_url: str) -> int:
    """The server's WAL insert position in bytes (the whole cluster's: other databases' writes count too)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        return connection.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint").fetchone()[0]


def report(platform: dict, pgbench: dict) -> str:
    """The pgbench lines of `make bench`: pgbench's payments/s and PostgreSQL CPU per payment, and the ratios of the
    platform's run (``platform``, bench_payments' result) to them."""
    per = max(1, pgbench["payments"])
    rate = pgbench["payments"] / pgbench["seconds"]
    postgres = pgbench["cpu"]["PostgreSQL"] * 1000 / per
    ours_rate = platform["succeeded"] / platform["seconds"]
    ours_postgres = platform["cpu"]["PostgreSQL"] * 1000 / max(1, platform["succeeded"])
    return "\n".join(
        [
            f"pgbench, the same write set ({pgbench['statements']} statements, {pgbench['transactions']} "
            f"transactions, {pgbench['durable_commits']} durable commits per payment; script {pgbench['script']}): "
            f"{rate:.1f} payments/s ({pgbench['payments']} in {pgbench['seconds']:.1f} s)",
            f"  CPU per payment: PostgreSQL {postgres:.2f} ms, pgbench {pgbench['cpu']['pgbench'] * 1000 / per:.2f} ms;"
            f" whole machine {pgbench['cpu']['machine'] * 1000 / per:.2f} ms;"
            f" WAL {pgbench['wal_bytes'] / per / 1024:.1f} KiB"
            " (the whole server's, other databases' writes included)",
            f"  ratio to pgbench: our PostgreSQL CPU per payment {ours_postgres / postgres:.2f}x pgbench's; "
            f"our throughput {ours_rate / rate:.3f}x pgbench's",
        ]
    )


if __name__ == "__main__":
    capture_main()
