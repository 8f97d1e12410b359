import os
from urllib.parse import urlsplit

from django.db import connection
from django_q.brokers import get_broker
from django_q.models import Task
from django_q.tasks import async_task, result


def test_the_task_queue_uses_the_redis_broker(prod_env):
    broker = get_broker()
    assert type(broker).__name__ == "Redis"
    assert broker.ping()
    assert broker.connection.connection_pool.connection_kwargs["port"] == urlsplit(prod_env["REDIS_URL"]).port


def test_a_task_round_trips_through_a_real_qcluster(transactional_db, start_qcluster, django_user_model):
    django_user_model.objects.create_user(email="seen-by-the-worker@example.com", password="x" * 20)
    cluster = start_qcluster()

    task_id = async_task("tests.prod.tasks.describe_worker")
    answer = result(task_id, wait=60_000)

    assert answer is not None, cluster.describe()
    assert answer["pid"] != os.getpid()  # it ran in the cluster's worker, not here
    assert answer["vendor"] == "postgresql"
    assert answer["database"] == connection.settings_dict["NAME"]  # the test database
    assert answer["users"] == ["seen-by-the-worker@example.com"]
    task = Task.objects.get(id=task_id)
    assert task.success is True
    assert task.func == "tests.prod.tasks.describe_worker"
