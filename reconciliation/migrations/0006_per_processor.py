from django.db import migrations, models


class Migration(migrations.Migration):
    """Runs and exceptions belong to one processor; every one made before there were several is the sandbox's."""

    dependencies = [("reconciliation", "0005_exception_unique_per_line_type")]

    operations = [
        migrations.AddField(
            model_name="reconciliationrun",
            name="processor",
            field=models.CharField(default="sandbox", max_length=40),
            preserve_default=False,
        ),
        migrations.AlterField(model_name="reconciliationrun", name="settlement_date", field=models.DateField()),
        migrations.AlterModelOptions(name="reconciliationrun", options={"ordering": ["-settlement_date", "processor"]}),
        migrations.AddConstraint(
            model_name="reconciliationrun",
            constraint=models.UniqueConstraint(
                fields=("processor", "settlement_date"), name="recon_run_one_per_processor_day"
            ),
        ),
        migrations.AddField(
            model_name="reconciliationexception",
            name="processor",
            field=models.CharField(default="sandbox", max_length=40),
            preserve_default=False,
        ),
        migrations.RemoveConstraint(model_name="reconciliationexception", name="recon_exc_unique_finding"),
        migrations.AddConstraint(
            model_name="reconciliationexception",
            constraint=models.UniqueConstraint(
                fields=("processor", "settlement_date", "type", "line_type", "match_key"),
                name="recon_exc_unique_finding_per_processor",
            ),
        ),
    ]
