"""Full walks split into id ranges (equal shares of the known customers), their fallback to per-state
chains, and the commit-before-next-page rule that bounds what a crash refetches."""

import logging
import threading
from collections import Counter

import pytest

from integrations.smile.capabilities import ID_RANGE
from integrations.smile.errors import SmileApiError
from integrations.smile.models import SmileConnection
from integrations.smile.selectors import connection_capability
from loyalty_lists.lists.models import SyncLease, SyncRun, SyncState
from loyalty_lists.lists.sync import cycle, fetch, full_walk

from ..conftest import assert_lists_match, id_ranges_verified
from ..fakes import FakeSmile, SimulatedCrash

CUSTOMERS = 2400


@pytest.fixture
def known(smile, run_cycle, make_list, monkeypatch, settings, merchant):
    """A program of 2,400 customers (all states) the snapshot already knows, on a connection whose made-up
    cursors were verified; ranges from 1,000 up."""
    id_ranges_verified(merchant)
    monkeypatch.setattr(full_walk, "ID_RANGE_MIN_CUSTOMERS", 1000)
    settings.SYNC_FULL_WALK_CHAINS = 4
    gold = smile.add_tier("Gold", 500)
    for n in range(CUSTOMERS):
        state = ("member", "member", "candidate", "disabled")[n % 4]
        smile.add(email=f"s{n}@example.com", state=state, tier=gold if n % 3 == 0 else None)
    smile.age()
    lists = [make_list("all_members"), make_list("members_and_candidates"), make_list("vip_tier", gold)]
    first = run_cycle("full")
    assert first.status == "succeeded"
    return lists


def walk_requests(smile):
    return [r for r in smile.requests if r["updated_at_min"] is None]


def test_the_first_sync_walks_per_state_and_later_full_walks_by_equal_id_ranges(smile, run_cycle, known):
    first_states = Counter(r["state"] for r in walk_requests(smile))  # (no probe: verified already)
    assert set(first_states) == {"member", "candidate", "disabled"}, "first sync: nothing known yet"
    smile.requests.clear()
    # (The first sync also split the member chain once the smaller ones finished: see the test below.)
    smile.update(10, points=12345)
    smile.delete(20)

    run = run_cycle("full")

    assert run.status == "succeeded" and run.customers_gone == 1
    requests = walk_requests(smile)
    assert {r["state"] for r in requests} == {None}, "no per-state chain"
    starts = sorted(int(r["cursor"][3:]) if r["cursor"] else 10**9 for r in requests)
    assert [s for s in starts if s in (601, 1201, 1801)] == [601, 1201, 1801], starts  # made-up cursors
    # Equal shares: every range is 600 customers, so 3 pages of 250 each (the last one cut at the
    # range's low end), 12 pages in all instead of 10 for one unfiltered walk.
    assert len(requests) == 12, len(requests)
    assert run.customers_fetched >= CUSTOMERS - 1
    assert_lists_match(known, smile)


class IgnoresMadeUpCursors(FakeSmile):
    def iter_customer_pages(self, *, start_cursor=None, **kwargs):
        made_up = start_cursor is not None and start_cursor.startswith("made-up:")
        yield from super().iter_customer_pages(start_cursor=None if made_up else start_cursor, **kwargs)

    @staticmethod
    def cursor_before(customer_id):
        return f"made-up:{customer_id}"


class RejectsMadeUpCursors(IgnoresMadeUpCursors):
    def iter_customer_pages(self, *, start_cursor=None, **kwargs):
        if start_cursor is not None and start_cursor.startswith("made-up:"):
            raise SmileApiError("The cursor is invalid.", status=400)
        yield from super().iter_customer_pages(start_cursor=start_cursor, **kwargs)


def test_a_first_sync_that_probes_counts_each_customer_once(smile, run_cycle, make_list, merchant):
    SmileConnection.objects.filter(merchant=merchant).update(capabilities={})  # nothing known: a probe
    smile.add_many(600)  # the probe's page (250) is stored, and fetched again by the state chains
    smile.age()
    make_list("all_members")

    run = run_cycle("full")

    assert connection_capability(merchant=merchant, name=ID_RANGE)["verdict"], "the walk probed first"
    assert run.status == "succeeded" and run.customers_fetched == 600, "the page says what Smile has"
    assert run.pages_fetched > 3, "the probe's page is a request like the others"


@pytest.mark.parametrize("kind", [IgnoresMadeUpCursors, RejectsMadeUpCursors])
def test_a_smile_that_does_not_take_made_up_cursors_is_walked_per_state(
    smile, run_cycle, known, kind, caplog
):
    other = kind()
    other.customers, other.tiers = smile.customers, smile.tiers
    other.update(7, points=777)

    with caplog.at_level(logging.WARNING, logger="loyalty_lists.lists.sync.full_walk"):
        run = run_cycle("full", client=other)

    assert run.status == "succeeded" and run.customers_gone == 0
    assert "walking with Smile's own cursors, per state" in caplog.text
    assert connection_capability(merchant=run.merchant, name=ID_RANGE)["verdict"] == "unsupported"
    assert {"member", "candidate", "disabled"} <= {r["state"] for r in other.requests}
    assert SyncState.objects.get().full_walk is None
    assert_lists_match(known, other)


def test_a_crash_mid_walk_refetches_at_most_one_page_per_chain(smile, run_cycle, known):
    smile.requests.clear()
    smile.update(1500, points=1)
    smile.fail_at(7, SimulatedCrash())  # all four chains are under way

    with pytest.raises(SimulatedCrash):
        run_cycle("full")

    checkpoint = SyncState.objects.get().full_walk
    assert list(checkpoint["chains"].values()) == [
        [None, None, 1801],
        [None, 1801, 1201],
        [None, 1201, 601],
        [None, 601, None],
    ]
    crashed = SyncRun.objects.filter(status="running").get()
    assert 0 < crashed.pages_fetched < 12
    SyncLease.objects.update(holder=None)

    resumed = run_cycle()

    assert resumed.kind == "full" and resumed.resumed and resumed.status == "succeeded"
    pages = Counter(r["cursor"] for r in walk_requests(smile))
    twice = {cursor: n for cursor, n in pages.items() if n > 1}
    assert all(n == 2 for n in twice.values()), twice

    def chain_of(cursor):
        below = int(cursor[3:]) if cursor else 10**9
        return next(
            key for key, (_s, _high, low) in checkpoint["chains"].items() if low is None or below > low
        )

    per_chain = Counter(chain_of(cursor) for cursor in twice)
    assert sum(per_chain.values()) >= 1 and max(per_chain.values()) == 1, per_chain
    assert_lists_match(known, smile)


def test_a_chain_asks_for_its_next_page_only_after_the_last_one_is_committed(
    smile, run_cycle, known, monkeypatch
):
    stored: dict = {}
    real_flush = cycle._Cycle.flush

    def flush(self, run, batch, checkpoint=None, **kwargs):
        real_flush(self, run, batch, checkpoint=checkpoint, **kwargs)
        if checkpoint is not None:
            stored.update((k, v) for k, v in checkpoint["cursors"].items() if v)

    class Checks(FakeSmile):
        def iter_customer_pages(self, *, start_cursor=None, **kwargs):
            for page in super().iter_customer_pages(start_cursor=start_cursor, **kwargs):
                yield page
                # Asked for the page after this one: this one must be committed with its cursor.
                if page.next_cursor is not None:
                    assert page.next_cursor in stored.values(), page.next_cursor

    monkeypatch.setattr(cycle._Cycle, "flush", flush)
    checking = Checks()
    checking.customers, checking.tiers = smile.customers, smile.tiers

    run = run_cycle("full", client=checking)

    assert run.status == "succeeded", run.error_message
    assert len(stored) == 4


def test_group_commit_takes_every_page_that_has_arrived(monkeypatch):
    from integrations.smile.types import CustomerPage

    flushes = []

    class Instant:
        def iter_customer_pages(self, *, state=None, **kwargs):
            for n in range(3):
                yield CustomerPage(customers=[], cursor=None, next_cursor=None if n == 2 else f"{state}{n}")

    fetch.walk(Instant(), [fetch.Chain(s, s) for s in "abcd"], lambda batch: flushes.append(batch.pages))

    assert sum(flushes) == 12
    assert max(flushes) <= 4, "never more than one page per chain in a commit"


def test_the_first_sync_spreads_the_largest_state_over_new_chains_when_smaller_ones_finish(
    smile, run_cycle, make_list, settings, caplog, merchant
):
    id_ranges_verified(merchant)
    settings.SYNC_FULL_WALK_CHAINS = 4
    for n in range(3350):  # states interleave over the ids, as in a real program; most are members
        smile.add(
            email=f"s{n}@example.com",
            state="candidate" if n % 10 == 3 else "disabled" if n % 60 == 7 else "member",
        )
    lists = [make_list("all_members"), make_list("members_and_candidates")]

    with caplog.at_level(logging.INFO, logger="loyalty_lists.lists.sync.fetch"):
        run = run_cycle("full")

    assert run.status == "succeeded", run.error_message
    assert "split" in caplog.text
    per_cursor = Counter((r["state"], r["cursor"]) for r in walk_requests(smile))
    assert max(per_cursor.values()) == 1, "no page fetched twice"
    assert run.customers_fetched >= 3350
    assert_lists_match(lists, smile)


def test_a_crash_after_a_split_resumes_every_chain(smile, run_cycle, make_list, settings, merchant):
    id_ranges_verified(merchant)
    settings.SYNC_FULL_WALK_CHAINS = 3
    for n in range(4000):
        smile.add(email=f"s{n}@example.com", state="disabled" if n % 200 == 0 else "member")
    smile.age()
    members = make_list("all_members")
    smile.fail_at(14, SimulatedCrash(), state="member")

    with pytest.raises(SimulatedCrash):
        run_cycle("full")

    checkpoint = SyncState.objects.get().full_walk
    assert len(checkpoint["chains"]) > 3, checkpoint["chains"]  # the member chain was split
    SyncLease.objects.update(holder=None)
    smile.requests.clear()

    resumed = run_cycle()

    assert resumed.resumed and resumed.status == "succeeded"
    assert_lists_match([members], smile)


def test_a_split_never_reuses_a_key_the_checkpoint_already_has():
    class DisabledAfterTwoMemberPages(FakeSmile):
        """The short chain ends once the long one has shown its pace (however the threads are scheduled)."""

        paced, split = threading.Event(), threading.Event()

        def iter_customer_pages(self, *, state=None, **kwargs):
            for n, page in enumerate(super().iter_customer_pages(state=state, **kwargs), 1):
                if state == "disabled":
                    self.paced.wait(10)
                yield page
                if state == "member" and n == 2:
                    self.paced.set()
                    self.split.wait(10)  # the long chain goes on once the walk has split it (a loaded box)

    smile = DisabledAfterTwoMemberPages()
    for n in range(3000):
        smile.add(email=f"s{n}@example.com", state="disabled" if n % 100 == 0 else "member")
    splits, seen = [], set()

    def flush(batch):
        seen.update(c.id for c, _ in batch.rows)

    fetch.walk(
        smile,
        [fetch.Chain("member", "member"), fetch.Chain("disabled", "disabled")],
        flush,
        spread=2,
        on_split=lambda chain, stops: (splits.append(chain.key), smile.split.set()),
        keys_taken=["member", "disabled", "member.1"],  # member.1: a finished chain of the walk
    )

    assert splits and splits[0] == "member.2", splits
    assert seen == set(smile.customers)
