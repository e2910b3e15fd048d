"""Hourly totals of the contacts given to each operator (crm.models.LoadHour), kept by triggers.

An operator's load was counted contact by contact up to its limit: with a limit that never binds, every
contact of its window, under its lock, for every new contact. The intake now adds up at most a window's
hours of totals and counts one by one only the contacts of the window's first, partial hour.

Triggers, not Python, so that every write of a contact counts, whatever path made it (the intake, the
queue, offers, a supervisor, the shell, COPY): +1 in the new row's (operator, UTC hour of assigned_at), -1
in the old row's. They fire only when the operator or the assignment time changes.
"""

import django.db.models.deletion
from django.db import migrations, models

# The UTC hour as whole hours since the Unix epoch (crm.eligibility.epoch_hour).
PG_HOUR = "floor(extract(epoch FROM {row}.assigned_at) / 3600)::integer"
POSTGRESQL = [
    f"""
    CREATE FUNCTION crm_load_hour_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO crm_loadhour (operator_id, hour, given) VALUES (NEW.operator_id, {PG_HOUR.format(row="NEW")}, 1)
        ON CONFLICT (operator_id, hour) DO UPDATE SET given = crm_loadhour.given + 1;
        RETURN NULL;
    END
    $$
    """,
    # A move touches two totals in one statement, in the order of their keys: two moves in opposite
    # directions at once (offers passing between two operators) then wait for each other, never deadlock.
    f"""
    CREATE FUNCTION crm_load_hour_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO crm_loadhour (operator_id, hour, given)
        SELECT operator_id, hour, sum(change) FROM (VALUES
            (OLD.operator_id, {PG_HOUR.format(row="OLD")}, -1),
            (CASE WHEN TG_OP = 'UPDATE' THEN NEW.operator_id END, {PG_HOUR.format(row="NEW")}, 1)
        ) AS changes (operator_id, hour, change)
        WHERE operator_id IS NOT NULL AND hour IS NOT NULL
        GROUP BY operator_id, hour ORDER BY operator_id, hour
        ON CONFLICT (operator_id, hour) DO UPDATE SET given = crm_loadhour.given + excluded.given;
        RETURN NULL;
    END
    $$
    """,
    # A contact stored waiting (a flood while everyone is full) runs no trigger at all.
    """
    CREATE TRIGGER crm_contact_load_hour_insert AFTER INSERT ON crm_contact
    FOR EACH ROW WHEN (NEW.operator_id IS NOT NULL AND NEW.assigned_at IS NOT NULL)
    EXECUTE FUNCTION crm_load_hour_added()
    """,
    """
    CREATE TRIGGER crm_contact_load_hour_update AFTER UPDATE OF operator_id, assigned_at ON crm_contact
    FOR EACH ROW WHEN (OLD.operator_id IS DISTINCT FROM NEW.operator_id
                       OR OLD.assigned_at IS DISTINCT FROM NEW.assigned_at)
    EXECUTE FUNCTION crm_load_hour_moved()
    """,
    """
    CREATE TRIGGER crm_contact_load_hour_delete AFTER DELETE ON crm_contact
    FOR EACH ROW WHEN (OLD.operator_id IS NOT NULL) EXECUTE FUNCTION crm_load_hour_moved()
    """,
    f"""
    INSERT INTO crm_loadhour (operator_id, hour, given)
    SELECT operator_id, {PG_HOUR.format(row="crm_contact")}, count(*) FROM crm_contact
    WHERE operator_id IS NOT NULL AND assigned_at IS NOT NULL GROUP BY 1, 2
    """,
]
POSTGRESQL_REVERSE = [
    f"DROP TRIGGER crm_contact_load_hour_{event} ON crm_contact" for event in ("insert", "update", "delete")
] + ["DROP FUNCTION crm_load_hour_added()", "DROP FUNCTION crm_load_hour_moved()"]

# SQLite stores datetimes as UTC text 'YYYY-MM-DD HH:MM:SS[.ffffff]'. Its date functions round to the
# millisecond (13:59:59.9999 would read as 14:00), so they are given the whole seconds only.
SQLITE_HOUR = "CAST(strftime('%s', substr({row}.assigned_at, 1, 19)) AS INTEGER) / 3600"
SQLITE_ADD = (
    "INSERT INTO crm_loadhour (operator_id, hour, given) "
    f"SELECT NEW.operator_id, {SQLITE_HOUR.format(row='NEW')}, 1 "
    "WHERE NEW.operator_id IS NOT NULL AND NEW.assigned_at IS NOT NULL "
    "ON CONFLICT (operator_id, hour) DO UPDATE SET given = given + 1;"
)
SQLITE_REMOVE = (
    "UPDATE crm_loadhour SET given = given - 1 "
    f"WHERE operator_id = OLD.operator_id AND hour = {SQLITE_HOUR.format(row='OLD')};"
)
SQLITE = [
    f"CREATE TRIGGER crm_contact_load_hour_insert AFTER INSERT ON crm_contact BEGIN {SQLITE_ADD} END",
    f"CREATE TRIGGER crm_contact_load_hour_delete AFTER DELETE ON crm_contact BEGIN {SQLITE_REMOVE} END",
    "CREATE TRIGGER crm_contact_load_hour_update AFTER UPDATE OF operator_id, assigned_at ON crm_contact "
    "WHEN OLD.operator_id IS NOT NEW.operator_id OR OLD.assigned_at IS NOT NEW.assigned_at "
    f"BEGIN {SQLITE_REMOVE} {SQLITE_ADD} END",
    "INSERT INTO crm_loadhour (operator_id, hour, given) "
    f"SELECT operator_id, {SQLITE_HOUR.format(row='crm_contact')}, count(*) FROM crm_contact "
    "WHERE operator_id IS NOT NULL AND assigned_at IS NOT NULL GROUP BY 1, 2",
]
SQLITE_REVERSE = [f"DROP TRIGGER crm_contact_load_hour_{event}" for event in ("insert", "delete", "update")]


def run(statements: dict[str, list[str]]):
    def operation(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"Leadflow's triggers are written for PostgreSQL and SQLite, not {vendor}.")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)  # None: the text as it is ("%s" included)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0016_closed_by_owner_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoadHour",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "operator", "hour", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("hour", models.IntegerField()),
                ("given", models.IntegerField()),
                (
                    "operator",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="crm.operator",
                    ),
                ),
            ],
        ),
        migrations.RunPython(
            run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
