"""Contacts' explanations compressed with lz4 on PostgreSQL.

Every contact stores its explanation (some 3 KB of JSON at 20 operators), more than fits a row uncompressed,
so PostgreSQL compresses it on every insert; with its default method (pglz) that took some 40 µs of the
intake's INSERT, then about 280 µs (docs/performance.md). lz4 is several times faster, its result a little
larger (670 bytes against 570 for 20 operators).
Values stored before keep their method; both read alike. A server built without lz4 keeps pglz.
"""

from django.db import migrations

LZ4 = """
DO $$ BEGIN
    ALTER TABLE crm_contact ALTER COLUMN explanation SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: explanations stay compressed with pglz';
END $$
"""


def compress_with_lz4(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LZ4, params=None)


def compress_as_before(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE crm_contact ALTER COLUMN explanation SET COMPRESSION DEFAULT")


class Migration(migrations.Migration):
    dependencies = [("crm", "0017_load_hours")]

    operations = [migrations.RunPython(compress_with_lz4, compress_as_before, elidable=False)]
