"""The pgbench script of `make bench` is derived from the code (benchmarks/pgbench_write_set.py): it must send what one
create-and-confirm sends, with fresh identifiers, and write the same rows."""

import shutil
import subprocess

import pytest
from django.db import connection
from django.test import Client

from benchmarks.pgbench_write_set import (
    BEGIN,
    COMMIT,
    DerivationError,
    Recorder,
    Sent,
    capture,
    derive_script,
    pgbench_command,
    same_path_pair,
    script_counts,
    transactions_of,
)
from tests.conftest import requires_postgres, test_database_url

PAY_1, PAY_2 = "pay_01M8PE1ARZ5XZFYZK1ET0W1HZ6", "pay_01M8PE88R439C7S4WACMQBKY4Z"
KEY_1, KEY_2 = "fa084571-1b5c-4f79-beb1-a1552ecf848f", "331aa55f-2350-44b5-a62c-d4697b0fbfd5"
MERCHANT = "mch_01M8PE16GF9E0CN4430ZZ7N6KF"


def request(payment: str, key: str, key_id: str, at: str) -> list[Sent]:
    """What a create-and-confirm sends, in miniature: a health check, a claim without a durable commit, the
    payment, a completion in autocommit."""
    return [
        Sent("SELECT 1", [["1"]], autocommit=True),
        Sent(BEGIN),
        Sent("SET LOCAL synchronous_commit TO OFF"),
        Sent(
            f'INSERT INTO "keys" ("merchant_id", "key") VALUES (\'{MERCHANT}\', \'{key}\') RETURNING "keys"."id"',
            [[key_id]],
        ),
        Sent(COMMIT),
        Sent(BEGIN),
        Sent(f'INSERT INTO "payments" ("id", "created") VALUES (\'{payment}\', \'{at}\'::timestamptz)'),
        Sent(f'INSERT INTO "events" ("payload") VALUES (\'{{"id":"{payment}","created":"{at}"}}\')'),
        Sent(f'UPDATE "keys" SET "resource_id" = \'{payment}\' WHERE "keys"."id" = {key_id}'),
        Sent(COMMIT),
        Sent(f'UPDATE "keys" SET "status" = \'completed\' WHERE "keys"."id" = {key_id}', autocommit=True),
    ]


FIRST = request(PAY_1, KEY_1, "4", "2026-11-30 14:34:11.104343+00:00")
SECOND = request(PAY_2, KEY_2, "5", "2026-11-30 14:34:12.000001+00:00")


def test_each_identifier_of_the_payment_becomes_fresh_and_each_generated_id_is_read_back():
    script = derive_script(FIRST, SECOND)
    lines = script.text.splitlines()

    assert script.fresh_identifiers == [KEY_1, PAY_1]  # the merchant is the same in both: kept
    assert PAY_1 not in script.text and KEY_1 not in script.text and MERCHANT in script.text
    assert lines[5] == (
        f'INSERT INTO "keys" ("merchant_id", "key") VALUES (\'{MERCHANT}\', \'00000000-0000-4000-8000-:ws_unique\') '
        'RETURNING "keys"."id" \\gset ws_r3_'
    )
    fresh_payment = "pay_01WWWWWWWWWWWW:ws_unique"
    assert len(fresh_payment.replace(":ws_unique", "1" * 12)) == len(PAY_1)
    # the first request's timestamps are kept, inside JSON too; the payment's id is replaced there as well
    assert f"VALUES ('{fresh_payment}', '2026-11-30 14:34:11.104343+00:00'::timestamptz);" in lines[8]
    assert f'{{"id":"{fresh_payment}","created":"2026-11-30 14:34:11.104343+00:00"}}' in lines[9]
    assert lines[10].endswith('WHERE "keys"."id" = :ws_r3_id;') and lines[12].endswith("= :ws_r3_id;")
    assert script.generated_values == ["ws_r3_id"]


def test_the_script_has_the_statements_and_transactions_of_the_request():
    script = derive_script(FIRST, SECOND)

    assert script_counts(script.text) == (script.statements, 2) == (7, 2)
    # the claim commits without a flush; the health check only reads: 4 transactions, 2 durable commits
    assert (script.transactions, script.durable_commits) == transactions_of(FIRST) == (4, 2)


def test_an_integer_that_differs_and_that_nothing_returned_cannot_be_derived():
    first = [Sent('UPDATE "keys" SET "n" = 1 WHERE "id" = 7', autocommit=True)]
    second = [Sent('UPDATE "keys" SET "n" = 1 WHERE "id" = 8', autocommit=True)]

    with pytest.raises(DerivationError, match="the integer 7 differs"):
        derive_script(first, second)


def test_requests_that_took_another_path_are_not_compared():
    once_a_minute = [Sent('UPDATE "apikey" SET "last_used_at" = now()', autocommit=True), *SECOND]

    assert same_path_pair([once_a_minute, FIRST, SECOND]) == (FIRST, SECOND)
    with pytest.raises(DerivationError):
        same_path_pair([once_a_minute, FIRST])
    with pytest.raises(DerivationError):
        derive_script(once_a_minute, FIRST)


def row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall()]
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


@requires_postgres
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pgbench") is None, reason="needs pgbench (Debian: postgresql-client)")
@pytest.mark.django_db(transaction=True)
def test_pgbench_writes_the_rows_a_create_and_confirm_writes(api_key, sandbox, tmp_path):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    recorder = Recorder(connection)
    capture(client, recorder, 2)  # warm-up: caches, the API key's last use
    before = row_counts()
    captured = capture(client, recorder, 3)
    per_request = {table: (count - before[table]) / 3 for table, count in row_counts().items()}
    first, second = same_path_pair(captured)
    script = derive_script(first, second)
    script_path = tmp_path / "script.sql"
    script_path.write_text(script.text)

    assert script_counts(script.text) == (sum(item.is_statement for item in first), first.count(Sent(BEGIN)))
    # a create-and-confirm, not an empty capture: it inserts a payment and an event, and commits durably
    assert 'INSERT INTO "payments_payment"' in script.text and script.durable_commits >= 1
    assert {"pay_", "evt_"} <= {value[:4] for value in script.fresh_identifiers}

    connection.close()  # pgbench's clients lock the rows this connection wrote: nothing of ours stays open
    command = pgbench_command(test_database_url(), script_path, connections=2, transactions=3)
    ran = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "number of transactions actually processed: 6/6" in ran.stdout

    after = row_counts()
    assert {table: after[table] - count for table, count in before.items()} == {
        table: int(3 * added + 6 * added) for table, added in per_request.items()
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT p.id) FROM payments_payment p JOIN core_idempotencykey k "
            "ON k.resource_id = p.id AND k.key = p.creation_idempotency_key "
            "WHERE p.id LIKE 'pay\\_01WWW%%' AND p.status = 'succeeded' AND k.status = 'completed'"
        )
        assert cursor.fetchone() == (6, 6)
        cursor.execute("SELECT coalesce(sum(amount), 0) FROM ledger_posting")
        assert cursor.fetchone() == (0,)  # every entry pgbench wrote balances, as the captured one did
