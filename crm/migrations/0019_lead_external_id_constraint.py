"""The lead's external id unique by a named constraint instead of the field's unique=True, without the
second index Django makes for such a field on PostgreSQL (`varchar_pattern_ops`, for LIKE 'prefix%').

No query here searches external ids by prefix (the lists search them by substring, over the trigram index
of migration 0004; the admin by equality, over the unique index), and every new lead paid for that index.
The unique index itself stays as it is, under the name PostgreSQL gave it (crm_lead_external_id_key), so
the table is not rebuilt nor the index built again; the lead's upsert (ON CONFLICT (external_id)) still
finds it. SQLite never had the second index.
"""

from django.db import migrations, models

from crm.validators import single_line


# The name Django gave that index when migration 0001 made the field (table, column and a hash of them).
LIKE_INDEX = "crm_lead_external_id_340d0fa3_like"


def drop_like_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {LIKE_INDEX}")


def create_like_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX {LIKE_INDEX} ON crm_lead (external_id varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [("crm", "0018_explanation_lz4")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="lead",
                    name="external_id",
                    field=models.CharField(
                        help_text="The customer's id in the channel that sent them.",
                        max_length=255,
                        validators=[single_line],
                        verbose_name="external id",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="lead",
                    constraint=models.UniqueConstraint(
                        fields=("external_id",), name="crm_lead_external_id_key"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_like_index, create_like_index, elidable=False)],
        )
    ]
