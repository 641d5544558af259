"""Funds that mature: ``JournalEntry.available_on``, the ``funds_matured`` type and the maturing work list.

Entries posted before this migration keep ``available_on`` null (the append-only trigger refuses rewriting
them, rightly): they were available at once, and the balance-transactions API shows their ``created``.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0006_payout_accounts"),
    ]

    operations = [
        migrations.CreateModel(
            name="MaturingFunds",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="maturing_funds",
                        serialize=False,
                        to="ledger.journalentry",
                    ),
                ),
                ("available_on", models.DateTimeField(db_index=True)),
            ],
            options={
                "verbose_name": "maturing funds",
                "verbose_name_plural": "maturing funds",
                "ordering": ["available_on"],
            },
        ),
        migrations.AddField(
            model_name="journalentry",
            name="available_on",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="journalentry",
            name="type",
            field=models.CharField(
                choices=[
                    ("charge", "Charge"),
                    ("refund", "Refund"),
                    ("refund_release", "Refund Release"),
                    ("refund_failure", "Refund Failure"),
                    ("dispute", "Dispute"),
                    ("dispute_reversal", "Dispute Reversal"),
                    ("adjustment", "Adjustment"),
                    ("authorization", "Authorization"),
                    ("authorization_release", "Authorization Release"),
                    ("payment_return", "Payment Return"),
                    ("payout", "Payout"),
                    ("payout_failure", "Payout Failure"),
                    ("payout_cancel", "Payout Cancel"),
                    ("funds_matured", "Funds Matured"),
                ],
                max_length=32,
            ),
        ),
    ]
