"""``sandbox.rows.insert`` writes, column for column, the row ``Model.objects.create`` writes.

The sandbox is another service with its own settings and database, so this runs in a process of its own under
``sandbox.settings`` on a fresh SQLite database (what ``python -m sandbox`` runs on by default).
"""

import os
import subprocess
import sys

from tests.sandbox_process import ROOT

SCRIPT = r"""
import datetime

import django

django.setup()
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from sandbox import rows
from sandbox.models import (
    BankAccount, Charge, IdempotencyKey, ScheduledAction, SettlementLine, Token, WebhookEvent, new_charge_id,
)

call_command("migrate", interactive=False, verbosity=0)
now = timezone.now()
account = BankAccount.objects.create(country="DE", last4="3000", fingerprint="f" * 16, behaviour="settle")


def raw_row(instance):
    table, pk = type(instance)._meta.db_table, type(instance)._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {pk} = %s", [instance.pk])
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone()))


def same_row(model, make_fields, *, differ=()):
    made, inserted = model.objects.create(**make_fields("a")), rows.insert(model(**make_fields("b")))
    assert inserted.pk is not None and not inserted._state.adding, inserted
    assert type(inserted.pk) is type(made.pk), (made.pk, inserted.pk)
    expected, actual = raw_row(made), raw_row(inserted)
    # What must differ between the two rows: the key, the values made to differ, the insertion time.
    for name in {type(made)._meta.pk.column, "created", *differ}:
        expected.pop(name, None), actual.pop(name, None)
    assert expected == actual, (model.__name__, expected, actual)
    assert raw_row(inserted).get("created", 1) is not None


same_row(
    Charge,
    lambda tag: dict(
        id=new_charge_id(), reference="pay_1", amount=1999, currency="USD", status=Charge.Status.CAPTURED,
        amount_captured=1999, idempotency_key=f"key-{tag}", token="tok_visa", source_type=Charge.SourceType.CARD,
        card_brand="visa", card_last4="4242", card_exp_month=12, card_exp_year=2030, behaviour="approve",
        captured_at=now,
    ),
    differ=("idempotency_key",),
)
# Values of other types than a field stores are prepared as Model.save prepares them.
same_row(
    Charge,
    lambda tag: dict(
        id=new_charge_id(), reference=12345, amount="700", currency="EUR", status="pending", amount_captured=False,
        idempotency_key=f"bank-{tag}", token=account.id, source_type="bank_account", bank_account=account,
        behaviour="settle", disputed=0, capture_on_approval=1,
        expires_at=datetime.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC),
    ),
    differ=("idempotency_key",),
)
same_row(
    SettlementLine,
    lambda tag: dict(
        settlement_date=now.date(), type="charge", processor_id=f"ch_{tag}", reference="pay_1", currency="USD",
        amount=1999, fee=75, injected=False, occurred_at=now,
    ),
    differ=("processor_id",),
)
same_row(
    IdempotencyKey,
    lambda tag: dict(
        scope="s" * 32, key=f"pay_1:authorize-{tag}", fingerprint="0" * 64, lock_id="1" * 32, locked_at=now,
        response_status=None, response_body=None, replay_after=now + datetime.timedelta(seconds=10),
    ),
    differ=("key",),
)
same_row(
    WebhookEvent,
    lambda tag: dict(id=f"evt_sbx_{tag}", type="charge.succeeded", payload={"a": [1, "é", None]}, next_attempt_at=now),
)
same_row(ScheduledAction, lambda tag: dict(action="emit_event", params={"charge_id": "ch_1"}, run_at=now))
same_row(Token, lambda tag: dict(id=f"tok_{tag}", brand="visa", last4="4242", exp_month=12, exp_year=2030,
                                 behaviour="approve"))
print("same rows")
"""


def test_insert_writes_the_row_that_create_writes(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SANDBOX_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="sandbox.settings", SANDBOX_DATABASE_URL=f"sqlite:///{tmp_path / 'sandbox.sqlite3'}"
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "same rows"
