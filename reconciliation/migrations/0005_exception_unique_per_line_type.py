# A finding is one per (settlement date, type, line type, match key): a match key is only unique within a line type
# (a charge and its return share the payment id, a dispute and its reversal the processor's dispute id), so two
# findings of one type on one key made the run fail with an IntegrityError (issue 11, item 8).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0004_return_lines"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="reconciliationexception",
            name="recon_exc_unique_finding",
        ),
        migrations.AddConstraint(
            model_name="reconciliationexception",
            constraint=models.UniqueConstraint(
                fields=("settlement_date", "type", "line_type", "match_key"), name="recon_exc_unique_finding"
            ),
        ),
    ]
