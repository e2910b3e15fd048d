"""Tokens stored as digests, assigned_at (the load counts by it), history of configuration changes.

The hourly load totals and their triggers (0003) give way to a count capped at the operator's limit over
the (operator, assigned_at) index: docs/performance.md has the measurement.
"""
import hashlib

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
import simple_history.models
from django.conf import settings
from django.db import migrations, models


TRIGGERS = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS crm_contact_operator_hour ON crm_contact",
        "DROP FUNCTION IF EXISTS crm_count_operator_hour()",
    ],
    "sqlite": [f"DROP TRIGGER IF EXISTS crm_contact_operator_hour_{event}" for event in ("insert", "delete", "update")],
}


def drop_hour_triggers(apps, schema_editor) -> None:
    for statement in TRIGGERS.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


def digest_tokens_and_stamp_assignments(apps, schema_editor) -> None:
    """Channels already configured keep working: each plain token becomes its digest and prefix. Contacts
    assigned before assigned_at existed were assigned when they arrived."""
    Source = apps.get_model("crm", "Source")
    for source in Source.objects.all():
        source.token_digest = hashlib.sha256(source.token.encode("utf-8", "surrogateescape")).hexdigest()
        source.token_prefix = source.token[:8]
        source.save(update_fields=["token_digest", "token_prefix"])
    Contact = apps.get_model("crm", "Contact")
    Contact.objects.filter(operator__isnull=False).update(assigned_at=models.F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0004_page_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_hour_triggers, migrations.RunPython.noop),
        migrations.CreateModel(
            name='HistoricalOperator',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('name', models.CharField(max_length=200)),
                ('is_active', models.BooleanField(default=True, help_text='Inactive operators receive no contacts.', verbose_name='active')),
                ('load_limit', models.PositiveIntegerField(default=20, help_text='Most contacts the operator may receive within the load window; 0 means none.')),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical operator',
                'verbose_name_plural': 'historical operators',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalSource',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('name', models.CharField(db_index=True, help_text='The channel: a bot, a site form, a phone line.', max_length=100)),
                ('token_prefix', models.CharField(default='', editable=False, help_text="The token's first characters, to tell tokens apart.", max_length=8)),
                ('previous_token_expires_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('keep_operator', models.BooleanField(default=False, help_text='A returning lead goes back to the operator of its latest assigned contact when that operator can take it now (active, weighted for this source, under the limit); otherwise the usual draw runs.', verbose_name='returning leads keep their operator')),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical source',
                'verbose_name_plural': 'historical sources',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalSourceOperatorWeight',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('weight', models.PositiveIntegerField(default=1, help_text='Relative share: an operator with weight 3 gets three times the contacts of one with weight 1.', validators=[django.core.validators.MinValueValidator(1)])),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical operator weight',
                'verbose_name_plural': 'historical operator weights',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AlterModelOptions(
            name='contact',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('assign_contact', 'Can assign contacts to operators')]},
        ),
        migrations.AddField(
            model_name='contact',
            name='assigned_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='source',
            name='keep_operator',
            field=models.BooleanField(default=False, help_text='A returning lead goes back to the operator of its latest assigned contact when that operator can take it now (active, weighted for this source, under the limit); otherwise the usual draw runs.', verbose_name='returning leads keep their operator'),
        ),
        migrations.AddField(
            model_name='source',
            name='previous_token_digest',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='source',
            name='previous_token_expires_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='source',
            name='token_digest',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='source',
            name='token_prefix',
            field=models.CharField(default='', editable=False, help_text="The token's first characters, to tell tokens apart.", max_length=8),
        ),
        migrations.RunPython(digest_tokens_and_stamp_assignments, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name='source',
            name='source_token_not_blank',
        ),
        migrations.RemoveField(
            model_name='source',
            name='token',
        ),
        migrations.AlterField(
            model_name='source',
            name='token_digest',
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name='source',
            name='token_prefix',
            field=models.CharField(editable=False, help_text="The token's first characters, to tell tokens apart.", max_length=8),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(fields=['operator', 'assigned_at'], name='contact_operator_load'),
        ),
        migrations.AddIndex(
            model_name='source',
            index=models.Index(condition=models.Q(('previous_token_digest', ''), _negated=True), fields=['previous_token_digest'], name='source_previous_token'),
        ),
        migrations.AddConstraint(
            model_name='contact',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('assigned_at__isnull', True), ('operator__isnull', True)), models.Q(('assigned_at__isnull', False), ('operator__isnull', False)), _connector='OR'), name='contact_assigned_at_iff_operator'),
        ),
        migrations.AddConstraint(
            model_name='source',
            constraint=models.CheckConstraint(condition=models.Q(('token_digest', ''), _negated=True), name='source_token_not_blank'),
        ),
        migrations.AddField(
            model_name='historicaloperator',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalsource',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalsourceoperatorweight',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalsourceoperatorweight',
            name='operator',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.operator'),
        ),
        migrations.AddField(
            model_name='historicalsourceoperatorweight',
            name='source',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='crm.source'),
        ),
        migrations.AlterField(
            model_name='contact',
            name='message',
            field=models.TextField(blank=True, max_length=10000),
        ),
        migrations.DeleteModel(
            name='OperatorHour',
        ),
    ]
