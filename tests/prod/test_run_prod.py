"""`make run-prod` (bin/run-prod) with the production settings module, against the test database."""

import os
import signal
import subprocess

import httpx
from django.conf import settings
from django_q.status import Stat
from django_q.tasks import async_task, result

from tests.prod.processes import PYTHON, ROOT, free_port, session_members, wait_for_http, wait_until


def production_env(prod_env, tmp_path, port):
    return dict(
        prod_env,
        DJANGO_SETTINGS_MODULE="loyalty_lists.settings",
        PYTHON=PYTHON,
        SECRET_KEY=settings.SECRET_KEY,  # the same key signs django-q2's task packages here and there
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        QCLUSTERS="1",
        QCLUSTERS_FULL="1",
        Q_WORKERS="1",
        METRICS_TOKEN="scrape-me",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        STATIC_ROOT=str(tmp_path / "static"),
        PLAIN_STATIC="0",
        LOG_LEVEL="INFO",
    )


def test_run_prod_migrates_serves_runs_two_clusters_and_stops_everything_on_ctrl_c(
    transactional_db, start, prod_env, tmp_path
):
    port = free_port()
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_99999.db").write_bytes(b"left by an earlier run")
    run = start("run-prod", ["bin/run-prod"], production_env(prod_env, tmp_path, port))

    page = wait_for_http(f"http://127.0.0.1:{port}/accounts/login/", run, timeout=120)
    assert page.status_code == 200
    assert "No migrations to apply." in run.output()
    assert (tmp_path / "static" / "staticfiles.json").exists()  # collectstatic ran
    css = httpx.get(f"http://127.0.0.1:{port}/static/css/app.css")
    assert css.status_code == 200

    clusters = wait_until(
        lambda: len(Stat.get_all()) == 2 and Stat.get_all(),
        timeout=60,
        message=f"two task clusters (the default queue's, the full-walk queue's) should report to Redis\n"
        f"{run.describe()}",
    )
    assert len({cluster.cluster_id for cluster in clusters}) == 2
    for queue in (None, "full"):  # each queue is served by one of run-prod's clusters
        task_id = async_task("tests.prod.tasks.describe_worker", cluster=queue)
        answer = result(task_id, wait=60_000)
        assert answer is not None, (queue, run.describe())
        assert answer["pid"] != os.getpid()
        assert answer["pid"] in session_members(run.pid)
    assert not (tmp_path / "metrics" / "counter_99999.db").exists(), "an earlier run's metrics are dropped"
    for _ in range(20):
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 401
    scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200
    # two gunicorn workers served the 20 requests; the scrape sums every process's counts
    assert 'loyalty_lists_request_duration_seconds_count{route="healthz"} 20.0' in scraped.text

    run.signal_group(signal.SIGINT)  # what Ctrl-C in a terminal does
    assert run.popen.wait(60) == 130, run.describe()
    assert session_members(run.pid) == [], "processes of run-prod outlived it"
    output = run.output()
    assert "bin/run-prod: stopping" in output
    assert output.count("has stopped.") == 2, output  # both clusters stopped cleanly
    assert "Shutting down: Master" in output  # and gunicorn


def test_run_prod_refuses_to_start_without_redis(prod_env):
    env = {key: value for key, value in prod_env.items() if key != "REDIS_URL"}
    done = subprocess.run(["bin/run-prod"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "REDIS_URL is not set" in done.stderr
