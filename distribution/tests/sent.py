"""Which of distribution.sql's statements the captured queries ran, whether sent as SQL or (PostgreSQL) as
EXECUTE of the connection's prepared copy."""

from distribution import db, sql


def times_run(captured_queries: list[dict], statement: sql.Statement) -> int:
    """How often the captured queries ran `statement`; preparing the copies does not count."""
    # Django logs a query with its values filled in: the statement's text matches up to its first value.
    text = statement.sql.split("%s")[0]
    executed = f"EXECUTE {db.PREPARED_PREFIX}{statement.name}("
    sent = [q["sql"] for q in captured_queries if not q["sql"].startswith(("PREPARE ", "SELECT name FROM"))]
    return sum(query.count(text) + query.count(executed) for query in sent)
