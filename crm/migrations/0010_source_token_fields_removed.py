# The old single-token columns go, in a migration of their own: PostgreSQL refuses to alter a table in the
# transaction that just wrote rows referring to it ("pending trigger events").

import django.core.validators
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0009_source_tokens"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="source",
            name="source_token_not_blank",
        ),
        migrations.RemoveIndex(
            model_name="source",
            name="source_previous_token",
        ),
        migrations.RemoveField(
            model_name="historicalsource",
            name="previous_token_expires_at",
        ),
        migrations.RemoveField(
            model_name="source",
            name="previous_token_digest",
        ),
        migrations.RemoveField(
            model_name="source",
            name="previous_token_expires_at",
        ),
        migrations.RemoveField(
            model_name="source",
            name="token_digest",
        ),
        migrations.AlterField(
            model_name="historicaloperator",
            name="load_limit",
            field=models.PositiveIntegerField(
                default=20,
                help_text="Most contacts the operator may receive within the load window; 0 means none.",
                validators=[django.core.validators.MaxValueValidator(2147483647)],
                verbose_name="load limit",
            ),
        ),
        migrations.AlterField(
            model_name="historicalsource",
            name="token_prefix",
            field=models.CharField(
                editable=False,
                help_text="The current token's first characters, to tell tokens apart.",
                max_length=8,
                verbose_name="token prefix",
            ),
        ),
        migrations.AlterField(
            model_name="historicalsourceoperatorweight",
            name="weight",
            field=models.PositiveIntegerField(
                default=1,
                help_text="Relative share: an operator with weight 3 gets three times the contacts of one with weight 1.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(2147483647),
                ],
                verbose_name="weight",
            ),
        ),
        migrations.AlterField(
            model_name="operator",
            name="load_limit",
            field=models.PositiveIntegerField(
                default=20,
                help_text="Most contacts the operator may receive within the load window; 0 means none.",
                validators=[django.core.validators.MaxValueValidator(2147483647)],
                verbose_name="load limit",
            ),
        ),
        migrations.AlterField(
            model_name="source",
            name="token_prefix",
            field=models.CharField(
                editable=False,
                help_text="The current token's first characters, to tell tokens apart.",
                max_length=8,
                verbose_name="token prefix",
            ),
        ),
        migrations.AlterField(
            model_name="sourceoperatorweight",
            name="weight",
            field=models.PositiveIntegerField(
                default=1,
                help_text="Relative share: an operator with weight 3 gets three times the contacts of one with weight 1.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(2147483647),
                ],
                verbose_name="weight",
            ),
        ),
    ]
