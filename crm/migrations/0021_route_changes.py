"""A version of each source's route (crm.models.RouteChange), kept by triggers.

A worker that remembers a token's route confirmed it with every contact by reading the route again: the
source and every operator's row, with their skills. It now reads the ids of the source's RouteChange rows
instead, which these triggers add to whenever something the route reads changes (distribution.routes):

- a source's routing columns (name, keep_operator, accept_within_seconds, strategy,
  relax_preferred_after_seconds, uses_skills);
- a weight added, removed or changed (its weight, source or operator; not round robin's last_given_at,
  which moves with every contact of such a source: those routes are still read whole, see routes.Route);
- an operator's routing columns (name, is_active, load_limit, presence, scheduled, shift_starts_at,
  shift_ends_at), for each source it has a weight in;
- a skill required or preferred by a source, or held by an operator, added or removed; a skill renamed.

Columns the route does not read (timestamps, presence_until, shift_due_at, the time zone, missed offers)
change no version: a trigger that fired on them would make every contact read its route again. Nothing
is locked: each change is a row of its own (the triggers only insert), so no two transactions that change
operators of the same sources wait for each other here.
"""

from importlib import import_module

from django.db import migrations, models

# Migration 0017's runner of per-vendor statements (its name cannot be imported with `from`).
run = import_module("crm.migrations.0017_load_hours").run

SOURCE_COLUMNS = (
    "name",
    "keep_operator",
    "accept_within_seconds",
    "strategy",
    "relax_preferred_after_seconds",
    "uses_skills",
)
OPERATOR_COLUMNS = (
    "name",
    "is_active",
    "load_limit",
    "presence",
    "scheduled",
    "shift_starts_at",
    "shift_ends_at",
)
WEIGHT_COLUMNS = ("weight", "source_id", "operator_id")
SOURCE_SKILLS = ("crm_source_required_skills", "crm_source_preferred_skills")


def pg_changed(columns: tuple[str, ...]) -> str:
    return "({}) IS DISTINCT FROM ({})".format(
        ", ".join(f"OLD.{c}" for c in columns), ", ".join(f"NEW.{c}" for c in columns)
    )


def sqlite_changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


# The sources of an operator: those it has a weight in.
OF_OPERATORS = "SELECT DISTINCT source_id FROM crm_sourceoperatorweight WHERE operator_id IN ({})"

# The sources whose routes read the skill NEW.id: those requiring or preferring it, and its holders'.
OF_SKILL = (
    "SELECT source_id FROM crm_source_required_skills WHERE skill_id = NEW.id "
    "UNION SELECT source_id FROM crm_source_preferred_skills WHERE skill_id = NEW.id "
    f"UNION {OF_OPERATORS.format('SELECT operator_id FROM crm_operator_skills WHERE skill_id = NEW.id')}"
)
# What each PostgreSQL function inserts: the sources of the row changed, by the table it is on.
FUNCTIONS = {
    "source": "VALUES (NEW.id)",
    # A weight or a source's skill names its source (OLD is NULL in an INSERT, NEW in a DELETE).
    "link": (
        "SELECT DISTINCT source_id FROM (VALUES (OLD.source_id), (NEW.source_id)) AS changed (source_id) "
        "WHERE source_id IS NOT NULL"
    ),
    "operator": OF_OPERATORS.format("NEW.id"),
    "operator_skill": OF_OPERATORS.format("OLD.operator_id, NEW.operator_id"),
    "skill": OF_SKILL,
}


def pg_function(kind: str) -> str:
    return f"""
    CREATE FUNCTION crm_route_of_{kind}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO crm_routechange (source_id) {FUNCTIONS[kind]};
        RETURN NULL;
    END
    $$
    """


POSTGRESQL = [
    *(pg_function(kind) for kind in FUNCTIONS),
    f"""
    CREATE TRIGGER crm_source_route AFTER UPDATE ON crm_source
    FOR EACH ROW WHEN ({pg_changed(SOURCE_COLUMNS)}) EXECUTE FUNCTION crm_route_of_source()
    """,
    """
    CREATE TRIGGER crm_weight_route_added AFTER INSERT OR DELETE ON crm_sourceoperatorweight
    FOR EACH ROW EXECUTE FUNCTION crm_route_of_link()
    """,
    f"""
    CREATE TRIGGER crm_weight_route_changed AFTER UPDATE ON crm_sourceoperatorweight
    FOR EACH ROW WHEN ({pg_changed(WEIGHT_COLUMNS)}) EXECUTE FUNCTION crm_route_of_link()
    """,
    *(
        f"""
        CREATE TRIGGER {table}_route AFTER INSERT OR UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION crm_route_of_link()
        """
        for table in SOURCE_SKILLS
    ),
    f"""
    CREATE TRIGGER crm_operator_route AFTER UPDATE ON crm_operator
    FOR EACH ROW WHEN ({pg_changed(OPERATOR_COLUMNS)}) EXECUTE FUNCTION crm_route_of_operator()
    """,
    """
    CREATE TRIGGER crm_operator_skills_route AFTER INSERT OR UPDATE OR DELETE ON crm_operator_skills
    FOR EACH ROW EXECUTE FUNCTION crm_route_of_operator_skill()
    """,
    """
    CREATE TRIGGER crm_skill_route AFTER UPDATE ON crm_skill
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION crm_route_of_skill()
    """,
]
PG_TRIGGERS = [
    ("crm_source_route", "crm_source"),
    ("crm_weight_route_added", "crm_sourceoperatorweight"),
    ("crm_weight_route_changed", "crm_sourceoperatorweight"),
    *((f"{table}_route", table) for table in SOURCE_SKILLS),
    ("crm_operator_route", "crm_operator"),
    ("crm_operator_skills_route", "crm_operator_skills"),
    ("crm_skill_route", "crm_skill"),
]
POSTGRESQL_REVERSE = [f"DROP TRIGGER {name} ON {table}" for name, table in PG_TRIGGERS] + [
    f"DROP FUNCTION crm_route_of_{kind}()" for kind in FUNCTIONS
]


def sqlite_trigger(name: str, event: str, table: str, body: str, when: str = "") -> str:
    condition = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} AFTER {event} ON {table}{condition} BEGIN INSERT INTO crm_routechange (source_id) {body}; END"


# SQLite has no function to share and one event per trigger.
SQLITE = [
    sqlite_trigger(
        "crm_source_route", "UPDATE", "crm_source", "VALUES (NEW.id)", when=sqlite_changed(SOURCE_COLUMNS)
    ),
    sqlite_trigger("crm_weight_route_insert", "INSERT", "crm_sourceoperatorweight", "VALUES (NEW.source_id)"),
    sqlite_trigger("crm_weight_route_delete", "DELETE", "crm_sourceoperatorweight", "VALUES (OLD.source_id)"),
    sqlite_trigger(
        "crm_weight_route_update",
        "UPDATE",
        "crm_sourceoperatorweight",
        "SELECT OLD.source_id UNION SELECT NEW.source_id",
        when=sqlite_changed(WEIGHT_COLUMNS),
    ),
    *(
        trigger
        for table in SOURCE_SKILLS
        for trigger in (
            sqlite_trigger(f"{table}_route_insert", "INSERT", table, "VALUES (NEW.source_id)"),
            sqlite_trigger(f"{table}_route_delete", "DELETE", table, "VALUES (OLD.source_id)"),
            sqlite_trigger(
                f"{table}_route_update", "UPDATE", table, "SELECT OLD.source_id UNION SELECT NEW.source_id"
            ),
        )
    ),
    sqlite_trigger(
        "crm_operator_route",
        "UPDATE",
        "crm_operator",
        OF_OPERATORS.format("NEW.id"),
        when=sqlite_changed(OPERATOR_COLUMNS),
    ),
    sqlite_trigger(
        "crm_operator_skills_route_insert",
        "INSERT",
        "crm_operator_skills",
        OF_OPERATORS.format("NEW.operator_id"),
    ),
    sqlite_trigger(
        "crm_operator_skills_route_delete",
        "DELETE",
        "crm_operator_skills",
        OF_OPERATORS.format("OLD.operator_id"),
    ),
    sqlite_trigger(
        "crm_operator_skills_route_update",
        "UPDATE",
        "crm_operator_skills",
        OF_OPERATORS.format("OLD.operator_id, NEW.operator_id"),
    ),
    sqlite_trigger(
        "crm_skill_route",
        "UPDATE",
        "crm_skill",
        OF_SKILL,
        when="OLD.name IS NOT NEW.name",
    ),
]
SQLITE_REVERSE = [f"DROP TRIGGER {statement.split()[2]}" for statement in SQLITE]


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0020_skills_in_history"),
    ]

    operations = [
        migrations.CreateModel(
            name="RouteChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source_id", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["source_id", "id"], name="routechange_source")],
            },
        ),
        migrations.RunPython(
            run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
