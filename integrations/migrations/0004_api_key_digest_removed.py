# The old single-token columns go, in a migration of their own: PostgreSQL refuses to alter a table in the
# transaction that just wrote rows referring to it ("pending trigger events").

import django.core.validators
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0003_api_key_secrets"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="apikey",
            name="apikey_digest_not_blank",
        ),
        migrations.RemoveField(
            model_name="apikey",
            name="key_digest",
        ),
        migrations.AlterField(
            model_name="apikey",
            name="key_prefix",
            field=models.CharField(
                editable=False,
                help_text="The current secret's first characters, to tell keys apart.",
                max_length=8,
                verbose_name="key prefix",
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="name",
            field=models.CharField(
                help_text="Who uses the key: the telephony system, the nightly BI job. One active key per name.",
                max_length=100,
                verbose_name="name",
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="revoked_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="A revoked key is refused (401): every secret of it stops working.",
                null=True,
                verbose_name="revoked at",
            ),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                condition=models.Q(("revoked_at__isnull", True)),
                fields=("name",),
                name="apikey_active_name_unique",
                violation_error_message="An active API key with this name exists already.",
            ),
        ),
    ]
