#!/bin/sh
# How the load is read, measured (issue 10): hourly totals kept by a trigger (the old way) against a count
# capped at the operator's limit over the (operator, assigned_at) index (the way kept). pgbench, 4 clients,
# 8 s each, on a scratch database: 300 operators whose window holds 20, 200 or 1000 contacts (the worst
# case for the capped count: load = limit), plus 1,000,000 contacts of history.
#   bench/load_rule.sh [postgres://postgres@127.0.0.1:5432/leadflow_bench_load]
set -eu
URL="${1:-postgres://postgres@127.0.0.1:5432/leadflow_bench_load}"
DB="${URL##*/}"
ADMIN="${URL%/*}/postgres"
DIR="$(mktemp -d)"
psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql -q "$URL" <<'SQL'
CREATE TABLE c_trig (id bigserial PRIMARY KEY, operator_id int, created_at timestamptz NOT NULL, assigned_at timestamptz);
CREATE TABLE c_plain (LIKE c_trig INCLUDING ALL);
CREATE INDEX ON c_trig (operator_id, created_at);
CREATE INDEX ON c_plain (operator_id, assigned_at);
CREATE TABLE h (operator_id int, hour_start timestamptz, contacts int, PRIMARY KEY (operator_id, hour_start));
CREATE FUNCTION cnt() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO h VALUES (NEW.operator_id, date_trunc('hour', NEW.created_at, 'UTC'), 1)
  ON CONFLICT (operator_id, hour_start) DO UPDATE SET contacts = h.contacts + 1; RETURN NULL; END $$;
CREATE TRIGGER t AFTER INSERT ON c_trig FOR EACH ROW EXECUTE FUNCTION cnt();
INSERT INTO c_trig (operator_id, created_at) SELECT op, now() - random() * interval '24 hours'
FROM generate_series(1, 300) op, LATERAL generate_series(1, CASE op % 3 WHEN 0 THEN 20 WHEN 1 THEN 200 ELSE 1000 END);
INSERT INTO c_trig (operator_id, created_at)
SELECT (random() * 299 + 1)::int, now() - interval '1 day' - random() * interval '30 days' FROM generate_series(1, 1000000);
INSERT INTO c_plain (operator_id, created_at, assigned_at) SELECT operator_id, created_at, created_at FROM c_trig;
VACUUM ANALYZE;
SQL
for case in "20:3 * random(1, 100)" "200:3 * random(0, 99) + 1" "1000:3 * random(0, 99) + 2"; do
    limit="${case%%:*}"
    printf '\\set op %s\n%s\n' "${case#*:}" "SELECT (SELECT coalesce(sum(contacts), 0) FROM h WHERE operator_id = :op AND hour_start >= date_trunc('hour', now() - interval '24 hours') + interval '1 hour') + (SELECT count(*) FROM c_trig WHERE operator_id = :op AND created_at > now() - interval '24 hours' AND created_at < date_trunc('hour', now() - interval '24 hours') + interval '1 hour');" >"$DIR/hours_$limit.sql"
    printf '\\set op %s\n%s\n' "${case#*:}" "SELECT count(*) FROM (SELECT 1 FROM c_plain WHERE operator_id = :op AND assigned_at > now() - interval '24 hours' LIMIT $limit) t;" >"$DIR/capped_$limit.sql"
done
printf '\\set op random(1, 300)\nINSERT INTO c_trig (operator_id, created_at) VALUES (:op, now() - interval %s);\n' "'2 days'" >"$DIR/insert_with_trigger.sql"
printf '\\set op random(1, 300)\nINSERT INTO c_plain (operator_id, created_at, assigned_at) VALUES (:op, now() - interval %s, now());\n' "'2 days'" >"$DIR/insert_plain.sql"
for script in hours_20 capped_20 hours_200 capped_200 hours_1000 capped_1000 insert_with_trigger insert_plain; do
    printf '%-20s ' "$script"
    pgbench -n -c 4 -j 2 -T 8 -f "$DIR/$script.sql" "$URL" 2>&1 | sed -n 's/^latency average = \(.*\)/\1/p; s/^tps = \([0-9.]*\).*/\1 tps/p' | paste -sd ' '
done
psql -q "$ADMIN" -c "DROP DATABASE $DB"
