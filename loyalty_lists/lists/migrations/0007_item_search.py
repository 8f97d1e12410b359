"""Substring search of a list's items by email (the list page's search box, ``LIKE '%text%'``).

PostgreSQL: a trigram GIN index on ``email`` (extension ``pg_trgm``, "trusted" since PostgreSQL 13: the
database's owner may create it). SQLite has no such index: a search scans the list's email index
(bench/README.md, figure 7, has both at 1M items). Not in ``ListItem.Meta.indexes``: a GIN index there
would be created on SQLite too (and SQLite's table rebuilds would try to recreate it).

(``list_id`` is not in the index: with btree_gin it could be, but the page's ``list_id = 1`` compares a
bigint column with an integer literal, an operator btree_gin's ``int8_ops`` does not have, so PostgreSQL
used only the email part and filtered by list afterwards.)
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEX = "item_email_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON lists_listitem USING gin (email gin_trgm_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("lists", "0006_every_path_one_door")]

    operations = [
        TrigramExtension(),  # a no-op on other databases
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
