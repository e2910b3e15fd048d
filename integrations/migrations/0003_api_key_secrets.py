# API keys keep their secrets as rows of their own (crm.secrets), as source tokens do.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def copy_secrets(apps, schema_editor):
    """Each key's digest becomes its current ApiKeySecret; two active keys with one name get told apart."""
    ApiKey = apps.get_model("integrations", "ApiKey")
    ApiKeySecret = apps.get_model("integrations", "ApiKeySecret")
    seen = set()
    for api_key in ApiKey.objects.order_by("created_at", "id"):
        ApiKeySecret.objects.create(
            api_key=api_key,
            digest=api_key.key_digest,
            prefix=api_key.key_prefix,
            created_at=api_key.created_at,
        )
        if api_key.revoked_at is None:
            if api_key.name in seen:
                api_key.name = f"{api_key.name[:80]} (#{api_key.pk})"
                api_key.save(update_fields=["name"])
            seen.add(api_key.name)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_verbose_names_translatable"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiKeySecret",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "digest",
                    models.CharField(editable=False, max_length=64, unique=True, verbose_name="digest"),
                ),
                (
                    "prefix",
                    models.CharField(
                        editable=False,
                        help_text="The secret's first characters, to tell secrets apart.",
                        max_length=8,
                        verbose_name="starts with",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created at"
                    ),
                ),
                (
                    "expires_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="Empty for the current secret; a rotated one works until this moment.",
                        null=True,
                        verbose_name="works until",
                    ),
                ),
            ],
            options={
                "verbose_name": "API key secret",
                "verbose_name_plural": "API key secrets",
                "ordering": ["-created_at", "-id"],
                "abstract": False,
            },
        ),
        migrations.AddField(
            model_name="apikeysecret",
            name="api_key",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="secrets",
                to="integrations.apikey",
                verbose_name="API key",
            ),
        ),
        migrations.RunPython(copy_secrets, migrations.RunPython.noop),
    ]
