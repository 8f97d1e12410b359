from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def test_the_test_database_is_postgresql_with_every_migration_applied(db):
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["NAME"].startswith("test_")  # pytest-django's database, not the real one
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    tables = set(connection.introspection.table_names())
    assert {"accounts_user", "merchants_merchant", "django_q_task", "django_q_schedule"} <= tables


def test_connections_are_persistent_and_health_checked():
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
