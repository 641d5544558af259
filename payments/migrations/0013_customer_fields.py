"""Payments carry the customer's email and name, both optional (issue 17); 0014 indexes them for search."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0012_processors_and_routing"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="customer_email",
            field=models.CharField(blank=True, max_length=254, null=True),
        ),
        migrations.AddField(
            model_name="payment",
            name="customer_name",
            field=models.CharField(blank=True, max_length=200, null=True),
        ),
    ]
