"""The snapshot's email index is brought up to date by the publish (``SmileCustomer.email_indexed``):
the walk writes new rows and changed emails outside it, and reads by email see the snapshot as of the
last publish, like the lists."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.smile.types import CustomerData
from loyalty_lists.lists import services
from loyalty_lists.lists.explain import Evidence, explain
from loyalty_lists.lists.models import SmileCustomer
from loyalty_lists.lists.sync.snapshot import index_emails, upsert_customers
from loyalty_lists.web.selectors import shopper_customers

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def customer(cid=7, email="ann@example.com", updated=T0, state="member") -> CustomerData:
    return CustomerData(
        id=cid,
        email=email,
        state=state,
        points_balance=5,
        vip_tier_id=None,
        vip_tier_expires_at=None,
        created_at=T0,
        updated_at=updated,
    )


def write(merchant, *customers, seen=None):
    with transaction.atomic():
        upsert_customers(merchant.pk, [(c, seen or timezone.now()) for c in customers], seq=1, tier_names={})


def found(merchant, email) -> list[int]:
    """What every reader by email finds: the shopper page, and explain's evidence (the API's too)."""
    page = [c.smile_id for c in shopper_customers(merchant=merchant, email=email)]
    explained = [c.smile_id for c in Evidence(merchant_id=merchant.pk, email=email, lists=[]).customers]
    assert page == explained
    return page


def indexed(cid) -> bool:
    return SmileCustomer.objects.get(smile_id=cid).email_indexed


def test_new_rows_wait_outside_the_email_index_until_it_is_brought_up_to_date(merchant):
    write(merchant, customer(7), customer(8, "bob@example.com"))

    assert not indexed(7) and not indexed(8)
    assert found(merchant, "ann@example.com") == []

    assert index_emails(merchant.pk) == 2
    assert found(merchant, "ann@example.com") == [7] and found(merchant, "bob@example.com") == [8]
    assert index_emails(merchant.pk) == 0


def test_a_changed_email_leaves_the_index_and_an_unchanged_one_stays(merchant):
    write(merchant, customer(7), customer(8, "bob@example.com"))
    index_emails(merchant.pk)

    write(merchant, customer(7, updated=T0 + timedelta(hours=1)))  # newer, same email
    write(merchant, customer(8, "robert@example.com", updated=T0 + timedelta(hours=1)))

    assert indexed(7) and not indexed(8)
    assert found(merchant, "bob@example.com") == [] and found(merchant, "robert@example.com") == []
    index_emails(merchant.pk)
    assert found(merchant, "robert@example.com") == [8]


def test_an_older_row_with_another_email_changes_nothing(merchant):
    write(merchant, customer(7, updated=T0 + timedelta(hours=2)))
    index_emails(merchant.pk)

    write(merchant, customer(7, "old@example.com", updated=T0))  # fetched before a newer webhook

    assert indexed(7)
    assert found(merchant, "ann@example.com") == [7]


def test_bringing_one_merchant_up_to_date_leaves_the_others_rows_alone(merchant, merchant_factory):
    other, _ = merchant_factory("other")
    write(merchant, customer(7))
    write(other, customer(7))

    index_emails(merchant.pk)

    assert SmileCustomer.objects.get(merchant=merchant).email_indexed
    assert not SmileCustomer.objects.get(merchant=other).email_indexed
    assert found(other, "ann@example.com") == []


def test_one_customer_can_be_brought_up_to_date_alone(merchant):
    write(merchant, customer(7), customer(8))
    assert index_emails(merchant.pk, [8]) == 1
    assert found(merchant, "ann@example.com") == [8]


def test_a_cycle_and_a_webhook_refresh_leave_every_row_in_the_index(merchant, smile, run_cycle, make_list):
    ann = smile.add("ann@example.com")
    smile.add("bob@example.com", state="candidate")
    members = make_list("all_members")

    run_cycle("full")

    assert not SmileCustomer.objects.filter(email_indexed=False).exists()
    evidence = Evidence(merchant_id=merchant.pk, email="ann@example.com", lists=[members])
    items = members.items.filter(email="ann@example.com")
    assert explain(list=members, items=items, evidence=evidence).reason_code == "member"
    assert found(merchant, "bob@example.com") != []

    smile.update(ann, email="ann.new@example.com")
    services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=ann, client=smile)

    assert found(merchant, "ann.new@example.com") == [ann]
    assert found(merchant, "ann@example.com") == []
    assert not SmileCustomer.objects.filter(email_indexed=False).exists()
