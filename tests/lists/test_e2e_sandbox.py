"""End to end against the real sandbox (a subprocess speaking HTTP) through the real client.

The stateful test drives random customer and tier mutations, delta / full cycles, webhook bursts (signed
bodies posted to the real receiver: repeats, out-of-order deliveries, tier deletions announced customer by
customer), injected faults, simulated crashes of cycles and refreshes with the sweep that repairs them,
and *Sync now* floods. After every successful cycle each list equals the ground truth computed straight
from the sandbox's ``GET /_sandbox/export``; after every failed or crashed cycle no list has changed;
after every drained webhook burst each refreshed customer is exactly where the truth puts them, and a
list whose VIP tier vanished is stale with the very members it had.
"""

import collections
import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django_q.models import OrmQ
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import integrations.smile.services as client_module
from integrations.smile.services import connection_account_id_record, connection_api_key_connect
from integrations.smile.types import CustomerData
from integrations.smile.webhooks import sign
from loyalty_lists.lists import services
from loyalty_lists.lists.membership import email_normalize, is_member
from loyalty_lists.lists.models import ListItem, LoyaltyList, RefreshRequest, SyncLease, SyncRun, VipTier
from loyalty_lists.lists.sync import cycle, fetch, refresh
from loyalty_lists.merchants.models import Merchant
from tests.support.ground_truth import export_customers, export_tier_names, item_tuple

from .fakes import SimulatedCrash

pytestmark = pytest.mark.e2e

API_KEY = "api_e2e_sync_engine"
CUSTOMERS = 60


def expected_item(c: CustomerData, tier_names: dict[int, str]):
    return item_tuple(
        email_normalize(c.email),
        c.state,
        c.points_balance,
        c.vip_tier_id,
        tier_names.get(c.vip_tier_id),
        c.vip_tier_expires_at,
    )


def actual_items(lst) -> dict[int, tuple]:
    return {
        i.smile_customer_id: item_tuple(
            i.email, i.state, i.points_balance, i.vip_tier_id, i.vip_tier_name, i.vip_tier_expires_at
        )
        for i in ListItem.objects.filter(list=lst)
    }


def everything_published(merchant) -> list:
    """Every list row and item, to prove a failed cycle changed none of them."""
    lists = list(
        LoyaltyList.objects.filter(merchant=merchant)
        .order_by("pk")
        .values_list("pk", "vip_tier_id", "stale_since", "item_count", "published_seq")
    )
    items = sorted(
        ListItem.objects.filter(merchant=merchant).values_list(
            "list_id", "smile_customer_id", "email", "state", "points_balance", "vip_tier_name", "updated_at"
        )
    )
    return [lists, items]


@pytest.fixture
def sandbox_connected(smile_sandbox_factory, settings, monkeypatch):
    sandbox = smile_sandbox_factory(customers=CUSTOMERS, seed=7, rate_limit=0, api_key=[API_KEY])
    settings.SMILE_API_BASE = sandbox.api_base
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.SMILE_MAX_ATTEMPTS = 2
    monkeypatch.setattr(fetch, "PAGE_LIMIT", 7)  # many pages, several batches: checkpoints matter
    monkeypatch.setattr(fetch, "BATCH_SIZE", 10)
    return sandbox


ACCOUNT_ID = 1  # the sandbox's account (its webhooks name it)


def connect(sandbox, slug: str) -> Merchant:
    merchant = Merchant.objects.create(slug=slug, name=slug)
    connection_api_key_connect(merchant=merchant, user=None, api_key=API_KEY)
    connection_account_id_record(merchant=merchant, account_id=ACCOUNT_ID)  # webhooks are routed by it
    return merchant


def webhook_body(customer: dict) -> bytes:
    """What the sandbox (and Smile) posts for a changed customer."""
    return json.dumps(
        {"account_id": ACCOUNT_ID, "topic": "customer/updated", "data": {"customer": customer}}
    ).encode()


def post_webhook(client: Client, body: bytes):
    response = client.post(
        "/integrations/smile/webhooks",
        data=body,
        content_type="application/json",
        headers={"X-Smile-Hmac-Sha256": sign(body)},
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_lists_always_equal_the_sandboxs_ground_truth(sandbox_connected, monkeypatch):
    sandbox = sandbox_connected
    examples = itertools.count()
    seen = collections.Counter()
    real_client_for_merchant = client_module.client_for_merchant
    real_publish = cycle.publish_lists

    class SyncEngine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.http = Client()
            n = next(examples)
            sandbox.clear_faults()
            sandbox.reset(customers=CUSTOMERS, seed=100)  # the same start every time: replays reproduce
            self.merchant = connect(sandbox, f"hyp-{n}")
            self.deleted: set[int] = set()
            tiers = sandbox.export()["vip_tiers"]
            self.lists = [
                services.list_create(
                    merchant=self.merchant, name="Members", audience="all_members", enqueue=False
                ),
                services.list_create(
                    merchant=self.merchant, name="Everyone", audience="members_and_candidates", enqueue=False
                ),
                *(
                    LoyaltyList.objects.create(
                        merchant=self.merchant, name=t["name"], audience="vip_tier", vip_tier_id=t["id"]
                    )
                    for t in tiers[:2]
                ),
            ]

        # --- Smile changes ----------------------------------------------------------------------
        def customer_ids(self) -> list[int]:
            return [c["id"] for c in sandbox.export()["customers"]]

        @rule(
            which=st.integers(0, 999),
            fields=st.fixed_dictionaries(
                {},
                optional={
                    "state": st.sampled_from(["member", "candidate", "disabled"]),
                    "points_balance": st.integers(0, 5000),
                    "vip_tier_id": st.integers(-1, 9),  # an index into the current tiers; -1 = no tier
                    "email": st.one_of(
                        st.none(), st.just(""), st.just("  MiXeD.Case@Example.COM "), st.integers(0, 999)
                    ),  # an int: the email of another customer (duplicates)
                },
            ),
        )
        def change_a_customer(self, which, fields):
            export = sandbox.export()
            customers, tiers = export["customers"], export["vip_tiers"]
            if "vip_tier_id" in fields:
                index = fields["vip_tier_id"]
                fields["vip_tier_id"] = None if index < 0 or not tiers else pick(tiers, index)["id"]
            if isinstance(fields.get("email"), int):
                fields["email"] = pick(customers, fields["email"])["email"]
            sandbox.patch_customer(pick(customers, which)["id"], **fields)

        @rule(state=st.sampled_from(["member", "candidate", "disabled"]), points=st.integers(0, 100))
        def create_a_customer(self, state, points):
            sandbox.create_customer(email=f"new{points}@example.com", state=state, points_balance=points)

        @rule(which=st.integers(0, 999))
        def delete_a_customer(self, which):
            cid = pick(self.customer_ids(), which)
            sandbox.delete_customer(cid)
            self.deleted.add(cid)

        @rule(which=st.integers(0, 999), name=st.sampled_from(["Gold", "Silver", "Platinum", "Bronze"]))
        def rename_a_tier(self, which, name):
            tiers = sandbox.export()["vip_tiers"]
            if tiers:
                tier = pick(tiers, which)
                sandbox.patch_tier(tier["id"], name=f"{name} {which % 3}")

        @rule(which=st.integers(0, 999))
        def delete_a_tier(self, which):
            tiers = sandbox.export()["vip_tiers"]
            if tiers:
                sandbox.delete_tier(pick(tiers, which)["id"])

        @rule(which=st.integers(0, 999), joiners=st.lists(st.integers(0, 999), max_size=3))
        def recreate_a_deleted_tier(self, which, joiners):
            current = {t["id"] for t in sandbox.export()["vip_tiers"]}
            gone = list(
                VipTier.objects.filter(merchant=self.merchant).exclude(smile_id__in=current).order_by("pk")
            )
            if gone:
                tier = pick(gone, which)
                new = sandbox.create_tier(tier.name, tier.milestone or 0)
                ids = self.customer_ids()
                for index in joiners:
                    sandbox.patch_customer(pick(ids, index), vip_tier_id=new["id"])

        # --- cycles -----------------------------------------------------------------------------
        @rule(kind=st.sampled_from(["delta", "full"]))
        def cycle(self, kind):
            before = everything_published(self.merchant)
            run = services.sync_cycle_run(merchant_id=self.merchant.pk, kind=kind)
            self.after_cycle(run, before)

        @rule(
            kind=st.sampled_from(["delta", "full"]),
            fault=st.sampled_from(["503", "500", "malformed", "429"]),
            count=st.integers(1, 4),
            path=st.sampled_from(["/v1/customers", "/v1/vip_tiers", "/v1/"]),
        )
        def cycle_with_faults(self, kind, fault, count, path):
            sandbox.fault(fault, count=count, path_prefix=path)
            before = everything_published(self.merchant)
            run = services.sync_cycle_run(merchant_id=self.merchant.pk, kind=kind)
            sandbox.clear_faults()
            self.after_cycle(run, before)

        @rule(
            kind=st.sampled_from(["delta", "full"]),
            where=st.sampled_from(["walk", "publish"]),
            pages=st.integers(1, 8),
        )
        def cycle_that_crashes(self, kind, where, pages):
            seen["crash rule"] += 1  # (a short walk may end before the crash point)
            before = everything_published(self.merchant)
            if where == "walk":
                monkeypatch.setattr(client_module, "client_for_merchant", crashing_client(pages))
            else:
                monkeypatch.setattr(cycle, "publish_lists", crash)
            try:
                run = services.sync_cycle_run(merchant_id=self.merchant.pk, kind=kind)
            except SimulatedCrash:
                run = None
            finally:
                monkeypatch.setattr(client_module, "client_for_merchant", real_client_for_merchant)
                monkeypatch.setattr(cycle, "publish_lists", real_publish)
            if run is not None:  # the walk was shorter than `pages`: no crash, a normal cycle
                self.after_cycle(run, before)
                return
            assert everything_published(self.merchant) == before, "a crash changed a list"
            seen[f"crash during {where}"] += 1
            # The killed worker never released its lease; it expires.
            SyncLease.objects.filter(merchant=self.merchant).update(
                holder="killed-worker", expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )

        @rule(which=st.integers(0, 999))
        def webhook_refresh(self, which):
            cid = pick(self.customer_ids() + sorted(self.deleted), which)
            run = services.customer_refresh(merchant_id=self.merchant.pk, smile_customer_id=cid)
            assert run.status == "succeeded", run.error_message
            export = sandbox.export()
            truth = {c.id: c for c in export_customers(export)}
            last_names = dict(
                VipTier.objects.filter(merchant=self.merchant, exists_in_smile=True).values_list(
                    "smile_id", "name"
                )
            )
            for lst in LoyaltyList.objects.filter(
                merchant=self.merchant, stale_since__isnull=True, last_published_at__isnull=False
            ):  # (a list never published waits for a cycle's whole recompute)
                item = actual_items(lst).get(cid)
                c = truth.get(cid)
                if c is None or not is_member(lst.audience, lst.vip_tier_id, c):
                    assert item is None, (lst.name, cid)
                else:
                    assert item == expected_item(c, last_names), (lst.name, cid)

        # --- webhooks ---------------------------------------------------------------------------
        @rule(
            whos=st.lists(st.integers(0, 999), min_size=1, max_size=8),
            fields=st.fixed_dictionaries(
                {},
                optional={
                    "state": st.sampled_from(["member", "candidate", "disabled"]),
                    "points_balance": st.integers(0, 5000),
                    "vip_tier_id": st.integers(-1, 9),
                },
            ),
            repeats=st.integers(0, 3),
            late=st.booleans(),
            seed=st.integers(0, 2**16),
            drain=st.booleans(),
        )
        def webhook_burst(self, whos, fields, repeats, late, seed, drain):
            """Customers change in Smile; their webhooks arrive repeated, shuffled, an older body late."""
            export = sandbox.export()
            customers, tiers = export["customers"], export["vip_tiers"]
            if "vip_tier_id" in fields:
                index = fields["vip_tier_id"]
                fields["vip_tier_id"] = None if index < 0 or not tiers else pick(tiers, index)["id"]
            bodies = []
            for who in dict.fromkeys(whos):
                cid = pick(customers, who)["id"]
                older = sandbox.get_customer(cid)
                bodies.append(webhook_body(sandbox.patch_customer(cid, **fields)))
                if late:
                    bodies.append(webhook_body(older))  # out of order: the previous body after the new one
            bodies += bodies[:repeats]  # duplicates
            random.Random(seed).shuffle(bodies)
            for body in bodies:
                post_webhook(self.http, body)
            seen["webhook burst"] += 1
            if drain:
                self.drain()

        @rule(which=st.integers(0, 999))
        def delete_a_tier_announced_by_webhooks(self, which):
            """Smile deletes a tier and sends one webhook per customer it moved out of it."""
            export = sandbox.export()
            if not export["vip_tiers"]:
                return
            tier = pick(export["vip_tiers"], which)
            moved = [c["id"] for c in export["customers"] if c["vip_tier_id"] == tier["id"]]
            tier_lists = LoyaltyList.objects.filter(
                merchant=self.merchant, vip_tier_id=tier["id"], stale_since__isnull=True
            )
            frozen = {lst.pk: _item_keys(lst) for lst in tier_lists}
            sandbox.delete_tier(tier["id"])
            for cid in moved:
                post_webhook(self.http, webhook_body(sandbox.get_customer(cid)))
            self.drain()
            for lst in LoyaltyList.objects.filter(pk__in=list(frozen)):
                if lst.last_published_at is None or not (frozen[lst.pk] & set(moved)):
                    continue  # (never filled, or none of its members moved: no webhook told us)
                assert lst.is_stale and lst.stale_reason, f"{lst.name} drained instead of going stale"
                assert _item_keys(lst) == frozen[lst.pk], "a stale list keeps its members"
                seen["tier list staled by webhooks"] += 1

        @rule(pages=st.integers(1, 3))
        def refresh_that_crashes(self, pages):
            """The worker dies mid-refresh: its claimed requests wait, and a later drain takes them."""
            if not RefreshRequest.objects.filter(merchant=self.merchant).exists():
                return
            before = everything_published(self.merchant)
            try:
                refresh.refresh_drain(
                    merchant_id=self.merchant.pk,
                    client=CrashAfter(real_client_for_merchant(self.merchant), pages, on_get=True),
                )
            except SimulatedCrash:
                seen["refresh crash"] += 1
                assert everything_published(self.merchant) == before, "a crashed refresh changed a list"
                # Its claims expire (REFRESH_CLAIM_TTL); the sweep sends a new task.
                RefreshRequest.objects.filter(merchant=self.merchant).update(
                    claimed_at=datetime.now(UTC) - refresh.REFRESH_CLAIM_TTL - timedelta(seconds=1)
                )
            self.drain()

        def drain(self):
            before = everything_published(self.merchant)
            waiting = set(
                RefreshRequest.objects.filter(merchant=self.merchant).values_list(
                    "smile_customer_id", flat=True
                )
            )
            run = services.customer_refresh_drain(merchant_id=self.merchant.pk)
            assert not RefreshRequest.objects.filter(merchant=self.merchant).exists(), (
                "the drain took them all"
            )
            if run is not None:
                assert run.status == "succeeded", run.error_message
                seen["refresh drained"] += 1
            self.check_refreshed(waiting, before)

        def check_refreshed(self, cids, before):
            export = sandbox.export()
            truth = {c.id: c for c in export_customers(export)}
            names = dict(
                VipTier.objects.filter(merchant=self.merchant, exists_in_smile=True).values_list(
                    "smile_id", "name"
                )
            )
            frozen = _items_by_list(before)
            for lst in LoyaltyList.objects.filter(merchant=self.merchant, last_published_at__isnull=False):
                if lst.is_stale:
                    assert _item_keys(lst) == frozen.get(lst.pk, set()), f"stale {lst.name} is frozen"
                    continue
                items = actual_items(lst)
                for cid in cids:
                    c = truth.get(cid)
                    if c is None or not is_member(lst.audience, lst.vip_tier_id, c):
                        assert cid not in items, (lst.name, cid)
                    else:
                        assert items.get(cid) == expected_item(c, names), (lst.name, cid)
                assert lst.item_count == len(items)

        # --- Sync now floods and dead workers -------------------------------------------------------
        @rule(presses=st.integers(1, 30), full=st.booleans())
        def sync_now_flood(self, presses, full):
            OrmQ.objects.all().delete()
            for _ in range(presses):
                run, _created = services.sync_enqueue(merchant=self.merchant, full=full)
            assert SyncRun.objects.filter(merchant=self.merchant, status="queued").count() == 1
            before = everything_published(self.merchant)
            ran = services.sync_queued_run(merchant_id=self.merchant.pk)
            assert ran is not None and ran.pk == run.pk, "the queued run is the one that ran"
            seen["sync now flood"] += 1
            self.after_cycle(ran, before)

        @rule()
        def sweep(self):
            """The sweep repairs a dead worker's lease: its run fails, a cycle is queued and runs."""
            lease = SyncLease.objects.filter(merchant=self.merchant).first()
            dead = lease is not None and lease.holder and lease.expires_at < datetime.now(UTC)
            services.sync_sweep()
            if not dead:
                return
            assert not SyncRun.objects.filter(
                merchant=self.merchant, kind__in=["delta", "full"], status="running"
            ).exists(), "the dead worker's run is marked failed"
            assert SyncRun.objects.filter(merchant=self.merchant, status="queued").exists()
            before = everything_published(self.merchant)
            run = services.sync_queued_run(merchant_id=self.merchant.pk)
            seen["swept and resumed"] += 1
            self.after_cycle(run, before)

        # --- checks -----------------------------------------------------------------------------
        def after_cycle(self, run, before):
            assert run is not None, "nothing else holds the lease"
            seen[f"{run.kind} cycle {run.status}{' (resumed)' if run.resumed else ''}"] += 1
            if run.status == SyncRun.Status.FAILED:
                assert everything_published(self.merchant) == before, (
                    f"failed run changed a list: {run.error_message}"
                )
                return
            assert run.status == SyncRun.Status.SUCCEEDED, run.status  # no list here reaches the guardrail
            if run.kind == "full" and not run.resumed:
                self.deleted.clear()  # a fresh, completed full walk has seen every deletion before it
            self.check_truth(before)

        def check_truth(self, before):
            export = sandbox.export()
            tier_names = export_tier_names(export)
            customers = export_customers(export)
            frozen = _items_by_list(before)
            for lst in LoyaltyList.objects.filter(merchant=self.merchant):
                if lst.audience == "vip_tier" and lst.vip_tier_id not in tier_names:
                    assert lst.is_stale and lst.stale_reason, lst.name
                    vanished = VipTier.objects.filter(
                        merchant=self.merchant, smile_id=lst.vip_tier_id
                    ).first()
                    if vanished is not None:  # (a tier deleted before the first sync was never seen)
                        key = vanished.name.strip().casefold()
                        namesakes = [n for n in tier_names.values() if n.strip().casefold() == key]
                        assert len(namesakes) != 1, "a re-created tier brings its stale list back"
                    assert _item_keys(lst) == frozen.get(lst.pk, set()), "a stale list is frozen"
                    continue
                assert not lst.is_stale, lst.name
                expected = {
                    c.id: expected_item(c, tier_names)
                    for c in customers
                    if is_member(lst.audience, lst.vip_tier_id, c)
                }
                actual = actual_items(lst)
                for cid in self.deleted:  # deletions only a later fresh full walk can see
                    actual.pop(cid, None)
                assert actual == expected, lst.name
                assert lst.item_count == ListItem.objects.filter(list=lst).count()

        @invariant()
        def at_most_one_cycle_is_running(self):
            if hasattr(self, "merchant"):
                assert (
                    SyncRun.objects.filter(
                        merchant=self.merchant, kind__in=["delta", "full"], status="running"
                    ).count()
                    <= 1
                )

    def crashing_client(pages):
        def make(merchant, correlation_id=None, **kwargs):
            return CrashAfter(
                real_client_for_merchant(merchant, correlation_id=correlation_id, **kwargs), pages
            )

        return make

    def crash(**kwargs):
        raise SimulatedCrash()

    SyncEngine.TestCase.settings = settings(
        max_examples=20,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    SyncEngine.TestCase().runTest()
    print(dict(seen))
    assert seen["delta cycle succeeded"] and seen["full cycle succeeded"], "the checks ran"
    assert seen["delta cycle failed"] + seen["full cycle failed"] and seen["crash rule"], (
        "faults were injected"
    )
    assert seen["refresh drained"] and seen["webhook burst"] and seen["sync now flood"], "webhooks ran"


def pick(seq, index: int):
    """Choose from data that lives in the sandbox by a drawn index (draws must not depend on it)."""
    return seq[index % len(seq)]


def _items_by_list(before) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for list_id, cid, *_ in before[1]:
        out.setdefault(list_id, set()).add(cid)
    return out


def _item_keys(lst) -> set[int]:
    return set(ListItem.objects.filter(list=lst).values_list("smile_customer_id", flat=True))


class CrashAfter:
    """The real client, except that the process dies while fetching the ``pages``-th customer page (or,
    with ``on_get``, the ``pages``-th single customer)."""

    def __init__(self, client, pages, on_get=False):
        self.client, self.pages, self.count, self.on_get = client, pages, 0, on_get

    def __enter__(self):
        self.client.__enter__()
        return self

    def __exit__(self, *exc):
        return self.client.__exit__(*exc)

    def list_vip_tiers(self):
        return self.client.list_vip_tiers()

    def cursor_before(self, customer_id):
        return self.client.cursor_before(customer_id)

    def get_customer(self, cid):
        if self.on_get:
            self.count += 1
            if self.count >= self.pages:
                raise SimulatedCrash()
        return self.client.get_customer(cid)

    def iter_customer_pages(self, **kwargs):
        for page in self.client.iter_customer_pages(**kwargs):
            self.count += 1
            if self.count >= self.pages:
                raise SimulatedCrash()
            yield page


@pytest.mark.django_db
def test_deleting_a_tier_makes_its_list_stale_and_re_creating_it_recovers_the_list(sandbox_connected):
    sandbox = sandbox_connected
    merchant = connect(sandbox, "tiers")
    export = sandbox.export()
    gold = max(
        export["vip_tiers"], key=lambda t: sum(c["vip_tier_id"] == t["id"] for c in export["customers"])
    )
    members = [c["id"] for c in export["customers"] if c["vip_tier_id"] == gold["id"]]
    tier_list = LoyaltyList.objects.create(
        merchant=merchant, name="Top", audience="vip_tier", vip_tier_id=gold["id"]
    )
    assert services.sync_cycle_run(merchant_id=merchant.pk).status == "succeeded"
    assert members and ListItem.objects.filter(list=tier_list).count() == len(
        [
            c
            for c in sandbox.export()["customers"]
            if c["vip_tier_id"] == gold["id"] and c["email"] and c["state"] != "disabled"
        ]
    )
    frozen = _item_keys(tier_list)

    sandbox.delete_tier(gold["id"])
    run = services.sync_cycle_run(merchant_id=merchant.pk)

    tier_list.refresh_from_db()
    assert run.status == "succeeded" and tier_list.is_stale
    assert gold["name"] in tier_list.stale_reason and "no longer exists in Smile" in tier_list.stale_reason
    assert _item_keys(tier_list) == frozen

    recreated = sandbox.create_tier(gold["name"], gold["milestone"])
    sandbox.patch_customer(members[0], vip_tier_id=recreated["id"], state="member", email="back@example.com")
    run = services.sync_cycle_run(merchant_id=merchant.pk)

    tier_list.refresh_from_db()
    assert run.status == "succeeded"
    assert (tier_list.is_stale, tier_list.stale_reason, tier_list.vip_tier_id) == (False, "", recreated["id"])
    assert _item_keys(tier_list) == {members[0]}
    assert ListItem.objects.get(list=tier_list).vip_tier_name == gold["name"]
