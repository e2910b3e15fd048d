"""The skill lists in the change history (crm.history.TRACKED_RELATED): simple-history's tables of each entry's
lists, and the lists as they are now written into the entries made before, so that the first change recorded
after this is compared with what the operator or source held, not with an empty list."""

import django.db.models.deletion
import simple_history.models
from django.db import migrations, models

RELATED = [
    ("Operator", "skills", "operator"),
    ("Source", "required_skills", "source"),
    ("Source", "preferred_skills", "source"),
]


def lists_as_they_are(apps, schema_editor) -> None:
    for model_name, field, owner in RELATED:
        model = apps.get_model("crm", model_name)
        through = model._meta.get_field(field).remote_field.through
        rows = apps.get_model("crm", f"Historical{model_name}_{field}")
        held: dict[int, list[tuple[int, int]]] = {}
        for row_id, owner_id, skill_id in through.objects.values_list("id", f"{owner}_id", "skill_id"):
            held.setdefault(owner_id, []).append((row_id, skill_id))
        entries = apps.get_model("crm", f"Historical{model_name}").objects.filter(id__in=list(held))
        rows.objects.bulk_create(
            (
                rows(id=row_id, history_id=history_id, skill_id=skill_id, **{f"{owner}_id": owner_id})
                for history_id, owner_id in entries.values_list("history_id", "id").iterator(chunk_size=2000)
                for row_id, skill_id in held[owner_id]
            ),
            batch_size=1000,
        )


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0019_lead_external_id_constraint'),
    ]

    operations = [
        migrations.CreateModel(
            name='HistoricalOperator_skills',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('m2m_history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, to='crm.historicaloperator')),
                ('operator', models.ForeignKey(blank=True, db_constraint=False, db_tablespace='', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.operator')),
                ('skill', models.ForeignKey(blank=True, db_constraint=False, db_tablespace='', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.skill')),
            ],
            options={
                'verbose_name': 'HistoricalOperator_skills',
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalSource_preferred_skills',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('m2m_history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, to='crm.historicalsource')),
                ('skill', models.ForeignKey(blank=True, db_constraint=False, db_tablespace='', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.skill')),
                ('source', models.ForeignKey(blank=True, db_constraint=False, db_tablespace='', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.source')),
            ],
            options={
                'verbose_name': 'HistoricalSource_preferred_skills',
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalSource_required_skills',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('m2m_history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, to='crm.historicalsource')),
                ('skill', models.ForeignKey(blank=True, db_constraint=False, db_tablespace='', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.skill')),
                ('source', models.ForeignKey(blank=True, db_constraint=False, db_tablespace='', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.source')),
            ],
            options={
                'verbose_name': 'HistoricalSource_required_skills',
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RunPython(lists_as_they_are, migrations.RunPython.noop),
    ]
