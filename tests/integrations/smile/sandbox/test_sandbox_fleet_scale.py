"""A fleet at scale: sizes from the distribution, fast start-up with programs generated on first use,
a big program's generation or pages never hold up a small one, --db reuse, background changes."""

import json
import threading
import time
from datetime import datetime

import pytest

from integrations.smile.sandbox.config import parse_sizes
from integrations.smile.sandbox.fleet import program_seed, program_size
from tests.support.sandbox import SandboxProcess, walk_customers

pytestmark = pytest.mark.e2e


def test_sizes_are_a_pure_function_of_the_distribution_seed_and_program():
    spec = parse_sizes("lognormal:median=200,sigma=1,max=5000")
    sizes = [program_size(spec, 1, n) for n in range(2, 4002)]
    assert sizes == [program_size(spec, 1, n) for n in range(2, 4002)]
    assert sizes != [program_size(spec, 2, n) for n in range(2, 4002)]
    assert 185 <= sorted(sizes)[len(sizes) // 2] <= 215 and max(sizes) == 5000 and min(sizes) >= 0
    assert {program_size(parse_sizes("fixed:37"), 1, n) for n in range(2, 50)} == {37}
    assert {program_size(parse_sizes("lognormal:median=90,sigma=0"), 5, n) for n in range(2, 50)} == {90}
    assert program_seed(7, 1) == 7 and len({program_seed(7, n) for n in range(2, 1000)}) == 998


def test_a_fleet_of_two_thousand_programs_starts_fast_and_generates_a_program_on_first_use():
    started = time.monotonic()
    with SandboxProcess(customers=500, programs=2000, rate_limit=0) as sandbox:
        ready = time.monotonic() - started
        assert ready < 20  # generous: measured about a second on the shared 2-core machine
        programs = sandbox.programs()
        sizes = [p["customers"] for p in programs[1:]]
        assert len(programs) == 2000 and 150 <= sorted(sizes)[len(sizes) // 2] <= 260
        assert [p["id"] for p in programs if p["generated"]] == [1]
        t0 = time.monotonic()
        with sandbox.api_client("api_fleet_1500") as api:
            customers, _ = walk_customers(api, limit=250)
        assert len(customers) == sizes[1498] and time.monotonic() - t0 < 10
        assert [p["id"] for p in sandbox.programs() if p["generated"]] == [1, 1500]


def test_a_small_program_does_not_wait_for_a_big_one_being_generated_or_walked(smile_sandbox_factory):
    # seed 17: program 2 has 40,000 customers (generated on first use), program 3 has under 200
    sandbox = smile_sandbox_factory(
        customers=40_000,
        seed=17,
        programs=3,
        size_distribution="lognormal:median=50,sigma=3,max=40000",
        rate_limit=0,
    )
    assert [p["customers"] for p in sandbox.programs()][1] == 40_000
    finished: dict[str, float] = {}

    def generate_big():
        with sandbox.api_client("api_fleet_2") as api:
            assert api.get("/customers", params={"limit": 1}, timeout=120).status_code == 200
        finished["big generated"] = time.monotonic()

    def walk_big():
        with sandbox.api_client("api_fleet_1") as api:
            walk_customers(api, limit=250, include="vip_status")
        finished["big walked"] = time.monotonic()

    threads = [threading.Thread(target=generate_big), threading.Thread(target=walk_big)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    latencies = []
    with sandbox.api_client("api_fleet_3") as api:
        for _ in range(10):
            t0 = time.monotonic()
            assert api.get("/customers", params={"limit": 250, "include": "vip_status"}).status_code == 200
            latencies.append(time.monotonic() - t0)
    small_done = time.monotonic()
    for t in threads:
        t.join(120)
    assert small_done < finished["big generated"] and small_done < finished["big walked"]
    assert max(latencies) < 1.5, latencies  # generous; a small page takes milliseconds


def test_generated_programs_are_reused_from_the_db_file_when_the_fleet_matches(tmp_path):
    options = {
        "customers": 50,
        "programs": 4,
        "size_distribution": "fixed:30",
        "db": tmp_path / "fleet.sqlite3",
    }
    with SandboxProcess(**options) as first:
        three = first.for_program(3)
        three.patch_customer(three.export()["customers"][0]["id"], points_balance=3333)
        truth = three.export()["customers"]
    with SandboxProcess(**options) as again:
        assert again.health()["db_reused"] is True
        assert [p["generated"] for p in again.programs()] == [True, False, True, False]
        assert again.for_program(3).export()["customers"] == truth
    with SandboxProcess(**(options | {"size_distribution": "fixed:31"})) as other:
        assert other.health()["db_reused"] is False
        assert [p["generated"] for p in other.programs()] == [True, False, False, False]


def test_the_change_rate_changes_generated_programs_and_sends_their_webhooks(
    smile_sandbox_factory, webhook_receiver
):
    sandbox = smile_sandbox_factory(
        customers=100,
        programs=4,
        size_distribution="fixed:100",
        change_rate="0.1/1s",  # 10 changes a second in each generated program
        webhook_url=webhook_receiver.url,
    )
    with sandbox.api_client("api_fleet_2") as api:
        assert api.get("/customers").status_code == 200  # program 2 is generated; 3 and 4 are not
    since = time.time()
    time.sleep(2.6)
    changed = {}
    for n in (1, 2):
        customers = sandbox.for_program(n).export()["customers"]
        changed[n] = [c for c in customers if datetime.fromisoformat(c["updated_at"]).timestamp() >= since]
        assert 8 <= len(changed[n]) <= 40, len(changed[n])
    sandbox.settings(change_rate=None)
    deliveries = sandbox.webhook_deliveries(wait=10)
    by_program = {n: [d for d in deliveries if d["program"] == n] for n in (1, 2, 3, 4)}
    assert len(by_program[1]) >= len(changed[1]) and len(by_program[2]) >= len(changed[2])
    assert by_program[3] == by_program[4] == []
    accounts = {json.loads(body)["account_id"] for _, body in webhook_receiver.received}
    assert accounts == {1, 2}
    assert [p["generated"] for p in sandbox.programs()] == [True, True, False, False]
    settled = len(sandbox.webhook_deliveries(wait=10))
    time.sleep(1.5)
    assert len(sandbox.webhook_deliveries(wait=1)) == settled  # switched off at runtime
