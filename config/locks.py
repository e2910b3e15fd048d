"""One worker at a time for a job (PostgreSQL advisory locks): for jobs whose rows two workers could take
in opposite orders (the offers' expiry) or whose order matters across transactions (the events' dispatch)."""

from django.db import connection


def only_one(job: str) -> bool:
    """Take the job's lock for the current transaction (released at its end): True if this worker has it,
    False if another has it now. SQLite serialises its writers anyway: always True there."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [f"leadflow:{job}"])
        return cursor.fetchone()[0]
