"""Create the database cache table as part of ``migrate``.

The default cache is the database cache (shared by every process), so the table must exist wherever
migrations have run — including pytest's test databases. A no-op when the cache is Redis.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("merchants", "0001_initial")]
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
