# Source tokens become rows of their own (crm.secrets), so that every token in its grace period keeps working.

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def copy_tokens(apps, schema_editor):
    """Each source's token digest (and the previous one, during its grace) becomes a SourceToken row."""
    Source = apps.get_model("crm", "Source")
    SourceToken = apps.get_model("crm", "SourceToken")
    rows = []
    for source in Source.objects.all():
        rows.append(SourceToken(source=source, digest=source.token_digest, prefix=source.token_prefix))
        if source.previous_token_digest:
            rows.append(
                SourceToken(
                    source=source,
                    digest=source.previous_token_digest,
                    prefix="",  # only the current token's prefix was kept
                    expires_at=source.previous_token_expires_at,
                )
            )
    SourceToken.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0008_waiting_by_source_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="SourceToken",
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
                "verbose_name": "webhook token",
                "verbose_name_plural": "webhook tokens",
                "ordering": ["-created_at", "-id"],
                "abstract": False,
            },
        ),
        migrations.AddField(
            model_name="sourcetoken",
            name="source",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="secrets",
                to="crm.source",
                verbose_name="source",
            ),
        ),
        migrations.RunPython(copy_tokens, migrations.RunPython.noop),
    ]
