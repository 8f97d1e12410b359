"""Substring search of a list's items by email (the list page's search box, ``LIKE '%text%'``).

PostgreSQL: a trigram GIN index over ``(list_id, email)`` (extensions ``pg_trgm`` and ``btree_gin``, both
"trusted" since PostgreSQL 13: the database's owner may create them), so a search reads the matches of one
list instead of every item of every merchant. SQLite has no such index: a search scans the list's rows
(bench/README.md, figure 7, has both at 1M items). Not in ``ListItem.Meta.indexes``: a GIN index there
would be created on SQLite too (and SQLite's table rebuilds would try to recreate it).
"""

from django.contrib.postgres.operations import BtreeGinExtension, TrigramExtension
from django.db import migrations

INDEX = "item_email_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON lists_listitem USING gin (list_id, email gin_trgm_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("lists", "0005_fewer_item_indexes")]

    operations = [
        BtreeGinExtension(),  # no-ops on other databases
        TrigramExtension(),
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
