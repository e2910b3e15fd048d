"""System checks for database settings that are known to break Leadflow.

Behind a pooler in transaction mode (PgBouncer with pool_mode = transaction, deploy/pgbouncer.ini) each
transaction may run on a different PostgreSQL session, so nothing may outlive a transaction on the
server: no server-side cursors left open by QuerySet.iterator(), no prepared statements (the intake's own
go as text then: distribution.db.preparing), no SET ROLE. And the intake sends several statements in one
execute (distribution.db.run_together), which only client-side parameter binding allows, pooler or not.

`python manage.py check` (and migrate) run these; registered from ConfigAppConfig.ready() (config/apps.py).
"""

from collections.abc import Sequence

from django.conf import settings
from django.core.checks import Error, Warning, register

PGBOUNCER_PORT = 6432


# Untagged: it reads settings only, so it runs with every check, not just `check --database`.
@register
def database_pooler(app_configs: Sequence | None = None, **kwargs) -> list[Error | Warning]:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return []
    options = db.get("OPTIONS", {})
    pooler = getattr(settings, "DATABASE_POOLER", "none")
    problems: list[Error | Warning] = []
    if pooler != "transaction":
        if pooler == "none" and str(db.get("PORT")) == str(PGBOUNCER_PORT):
            problems.append(
                Warning(
                    f"DATABASE_URL points at port {PGBOUNCER_PORT}, PgBouncer's port, but DATABASE_POOLER "
                    "is not set, so the settings a transaction-mode pooler needs are not checked, and the "
                    "intake prepares its statements on each connection, which such a pooler cannot carry.",
                    hint="Set DATABASE_POOLER=transaction (or =session) to say what is in front of PostgreSQL.",
                    id="leadflow.W001",
                )
            )
        return problems
    if not db.get("DISABLE_SERVER_SIDE_CURSORS"):
        problems.append(
            Error(
                "DATABASE_POOLER=transaction without DISABLE_SERVER_SIDE_CURSORS: QuerySet.iterator() would "
                "open a cursor in one PostgreSQL session and fetch from it in whichever the pooler hands out next.",
                hint="Set DISABLE_SERVER_SIDE_CURSORS=true.",
                id="leadflow.E002",
            )
        )
    if options.get("prepare_threshold") is not None:
        problems.append(
            Error(
                "DATABASE_POOLER=transaction with OPTIONS['prepare_threshold'] set: psycopg would prepare "
                "statements in one PostgreSQL session and run them in another ('prepared statement ... does "
                "not exist'). PgBouncer before 1.21, or without max_prepared_statements, cannot carry them.",
                hint="Remove prepare_threshold from the database OPTIONS (Django then leaves it off).",
                id="leadflow.E003",
            )
        )
    if options.get("assume_role"):
        problems.append(
            Error(
                "DATABASE_POOLER=transaction with OPTIONS['assume_role']: SET ROLE runs once per connection and "
                "would stay in one PostgreSQL session while later transactions run in others.",
                hint="Connect as the role itself (the user in DATABASE_URL) instead of assume_role.",
                id="leadflow.E004",
            )
        )
    return problems
