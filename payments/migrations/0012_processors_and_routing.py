import django.db.models.deletion
from django.db import migrations, models

import core.money


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0001_initial"),
        ("payments", "0011_transitions_refuse_truncate"),
    ]

    operations = [
        # Every payment made before there were several acquirers was made with the one sandbox.
        migrations.AddField(
            model_name="payment",
            name="processor",
            field=models.CharField(default="sandbox", max_length=40),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="payment",
            name="fallback_processor",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.AddField(
            model_name="payment",
            name="failed_over_from",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        migrations.CreateModel(
            name="RoutingRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "priority",
                    models.PositiveIntegerField(help_text="Lower runs first; the first matching rule decides."),
                ),
                (
                    "currency",
                    models.CharField(blank=True, choices=core.money.CURRENCY_CHOICES, default="", max_length=3),
                ),
                (
                    "payment_method_type",
                    models.CharField(blank=True, default="", max_length=32),
                ),
                (
                    "processor",
                    models.CharField(help_text="The acquirer that takes the matching payments.", max_length=40),
                ),
                (
                    "fallback_processor",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="Where a payment goes instead when the acquirer provably did not process it "
                        "(down, or refusing what it does not take). Never after a timeout.",
                        max_length=40,
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("description", models.CharField(blank=True, default="", max_length=255)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("updated", models.DateTimeField(auto_now=True)),
                (
                    "merchant",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="merchants.merchant",
                    ),
                ),
            ],
            options={
                "ordering": ["priority", "id"],
                "constraints": [
                    models.UniqueConstraint(fields=("priority",), name="routing_rule_priority_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("fallback_processor", models.F("processor")), _negated=True),
                        name="routing_rule_fallback_is_another_processor",
                    ),
                ],
            },
        ),
    ]
