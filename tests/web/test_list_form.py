"""Create / edit a list: three audiences, the tier picker, the preview, inline validation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.smile.types import VipTierData
from loyalty_lists.lists.models import LoyaltyList, VipTier

from .conftest import make_customer, make_list, make_tier


@pytest.fixture
def tiers(merchant):
    return make_tier(merchant, 7, "Gold", 500), make_tier(merchant, 8, "Silver", 100)


@pytest.fixture
def snapshot(merchant):
    """Customers of the last sync: 3 members (2 Gold), a candidate, a disabled Gold, one without email."""
    make_customer(merchant, 1, "ann@example.com", points=10, tier=7, tier_name="Gold")
    make_customer(merchant, 2, "bob@example.com", points=20, tier=7, tier_name="Gold")
    make_customer(merchant, 3, "cy@example.com", points=30, tier=8, tier_name="Silver")
    make_customer(merchant, 4, "dee@example.com", state="candidate")
    make_customer(merchant, 5, "eve@example.com", state="disabled", tier=7, tier_name="Gold")
    make_customer(merchant, 6, "", points=99)


@pytest.fixture
def queued(monkeypatch):
    """Record the cycles list changes queue (no task broker in unit tests)."""
    calls = []
    monkeypatch.setattr(
        "loyalty_lists.lists.services.sync_enqueue", lambda *, merchant, full=False: calls.append(merchant.pk)
    )
    return calls


def test_the_form_has_labelled_fields_and_three_audience_choices(staff, connected, tiers):
    body = staff.get("/lists/new/").content.decode()
    assert '<label for="id_name">Name</label>' in body
    assert '<label for="id_vip_tier">VIP tier</label>' in body
    for value, label in [
        ("all_members", "All loyalty members"),
        ("members_and_candidates", "All loyalty members &amp; candidates"),
        ("vip_tier", "One VIP tier"),
    ]:
        assert f'value="{value}"' in body and label in body
    assert "<legend>Audience</legend>" in body and "<legend>Source</legend>" in body and "Smile.io" in body
    assert '<option value="7">Gold</option>' in body and '<option value="8">Silver</option>' in body


def test_it_asks_to_connect_smile_before_the_first_list(staff):
    body = staff.get("/lists/new/").content.decode()
    assert "Connect Smile to create your first list" in body
    assert 'id="list-form"' not in body


def test_it_creates_an_all_members_list_and_queues_a_sync(
    staff, merchant, user, connected, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/lists/new/", {"name": "  Loyal  ", "source": "smile", "audience": "all_members"}
        )
    lst = LoyaltyList.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/lists/{lst.pk}/"
    assert (lst.name, lst.audience, lst.vip_tier_id, lst.merchant, lst.created_by) == (
        "Loyal",
        "all_members",
        None,
        merchant,
        user,
    )
    assert queued == [merchant.pk]
    assert "A sync was queued to fill it." in staff.get(response["Location"]).content.decode()


def test_it_creates_a_tier_list(staff, connected, tiers, queued):
    staff.post("/lists/new/", {"name": "Gold", "source": "smile", "audience": "vip_tier", "vip_tier": "7"})
    assert LoyaltyList.objects.get().vip_tier_id == 7


def test_a_tier_picked_for_another_audience_is_ignored(staff, connected, tiers, queued):
    staff.post(
        "/lists/new/",
        {"name": "All", "source": "smile", "audience": "members_and_candidates", "vip_tier": "7"},
    )
    lst = LoyaltyList.objects.get()
    assert (lst.audience, lst.vip_tier_id) == ("members_and_candidates", None)


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"name": "", "audience": "all_members"}, "name", "This field is required."),
        ({"name": "   ", "audience": "all_members"}, "name", "This field is required."),
        ({"name": "x"}, "audience", "This field is required."),
        ({"name": "x", "audience": "everyone"}, "audience", "Select a valid choice."),
        ({"name": "x", "audience": "vip_tier"}, "vip_tier", "Choose the VIP tier of this list."),
        ({"name": "x", "audience": "vip_tier", "vip_tier": "99"}, "vip_tier", "Select a valid choice."),
    ],
)
def test_invalid_input_is_shown_next_to_its_field(staff, connected, tiers, queued, data, field, message):
    response = staff.post("/lists/new/", {"source": "smile", **data})
    body = response.content.decode()
    assert response.status_code == 200 and not LoyaltyList.objects.exists()
    errors = body[body.index(f'id="id_{field}_error"') :]
    assert message in errors[: errors.index("</ul>")]
    if field in ("name", "vip_tier"):
        assert f'aria-describedby="id_{field}_helptext id_{field}_error"' in body
        assert 'aria-invalid="true"' in body
    assert queued == []


def test_a_tier_that_vanished_from_smile_is_refused_by_the_service(staff, merchant, connected, queued):
    make_tier(merchant, 7, "Gold")
    form_page = staff.get("/lists/new/")  # the tier is offered ...
    assert '<option value="7">Gold</option>' in form_page.content.decode()
    VipTier.objects.filter(smile_id=7).update(exists_in_smile=False)  # ... and vanishes before the save
    body = staff.post(
        "/lists/new/", {"name": "x", "source": "smile", "audience": "vip_tier", "vip_tier": "7"}
    )
    assert "Select a valid choice." in body.content.decode()
    assert not LoyaltyList.objects.exists()


def test_the_preview_counts_members_and_shows_ten_sample_rows(staff, merchant, connected, snapshot):
    for n in range(20):
        make_customer(merchant, 100 + n, f"member{n}@example.com")
    body = staff.get("/lists/preview/", {"audience": "all_members"}).content.decode()
    assert '<strong id="preview-count">23</strong>' in body
    assert body.count("<tr>") == 11  # header + ten rows
    assert "member19@example.com" in body  # newest Smile customers first


@pytest.mark.parametrize(
    "params, count, emails",
    [
        ({"audience": "all_members"}, 3, {"ann@", "bob@", "cy@"}),
        ({"audience": "members_and_candidates"}, 4, {"ann@", "bob@", "cy@", "dee@"}),
        ({"audience": "vip_tier", "vip_tier": "7"}, 2, {"ann@", "bob@"}),
    ],
)
def test_the_preview_applies_the_membership_rules(staff, connected, snapshot, params, count, emails):
    body = staff.get("/lists/preview/", params).content.decode()
    assert f'<strong id="preview-count">{count}</strong>' in body
    for email in ["ann@", "bob@", "cy@", "dee@", "eve@"]:
        assert (email in body) == (email in emails)


def test_the_preview_asks_for_a_tier_and_for_an_audience(staff, connected, snapshot):
    assert "Choose a VIP tier" in staff.get("/lists/preview/", {"audience": "vip_tier"}).content.decode()
    assert "Choose an audience" in staff.get("/lists/preview/", {"audience": "nope"}).content.decode()


def test_the_preview_says_when_nothing_was_synced_yet(staff, connected):
    body = staff.get("/lists/preview/", {"audience": "all_members"}).content.decode()
    assert "No Smile customers have been synced yet" in body


def test_the_preview_never_shows_another_merchants_shoppers(staff, other_merchant, connected):
    make_customer(other_merchant, 1, "stranger@example.com")
    body = staff.get("/lists/preview/", {"audience": "all_members"}).content.decode()
    assert "stranger@example.com" not in body


def test_the_preview_button_works_without_javascript(staff, connected, snapshot, queued):
    response = staff.post(
        "/lists/new/", {"name": "x", "source": "smile", "audience": "all_members", "preview": "1"}
    )
    assert '<strong id="preview-count">3</strong>' in response.content.decode()
    assert not LoyaltyList.objects.exists()


def test_the_preview_updates_itself_with_htmx(staff, connected):
    body = staff.get("/lists/new/").content.decode()
    assert 'hx-get="/lists/preview/"' in body and 'hx-trigger="load, change from:#list-form"' in body


def test_the_tier_picker_is_filled_from_smiles_live_tiers(staff, merchant, connected, monkeypatch):
    make_tier(merchant, 7, "Gold")
    VipTier.objects.update(last_seen_at=timezone.now() - timedelta(hours=1))
    fetched = []

    class LiveSmile:
        def __init__(self, *args, **kwargs):
            fetched.append(kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def list_vip_tiers(self):
            return [
                VipTierData(id=7, name="Gold", milestone=500),
                VipTierData(id=9, name="Platinum", milestone=900),
            ]

    monkeypatch.setattr("integrations.smile.services.client_for_merchant", LiveSmile)
    body = staff.get("/lists/new/").content.decode()
    assert fetched and fetched[0]["max_attempts"] == 2
    assert '<option value="9">Platinum</option>' in body
    staff.get("/lists/new/")
    assert len(fetched) == 1  # fresh for a minute: no second call


def test_the_stored_tiers_are_offered_when_smile_cannot_be_reached(staff, merchant, connected, monkeypatch):
    from integrations.smile.errors import SmileUnavailable

    make_tier(merchant, 7, "Gold")
    VipTier.objects.update(last_seen_at=timezone.now() - timedelta(hours=1))

    def unreachable(*args, **kwargs):
        raise SmileUnavailable("Smile is down", status=503)

    monkeypatch.setattr("integrations.smile.services.client_for_merchant", unreachable)
    body = staff.get("/lists/new/").content.decode()
    assert "Could not load the VIP tiers from Smile" in body
    assert '<option value="7">Gold</option>' in body


def test_editing_renames_without_a_sync(
    staff, merchant, connected, queued, django_capture_on_commit_callbacks
):
    lst = make_list(merchant, "Old")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            f"/lists/{lst.pk}/edit/", {"name": "New", "source": "smile", "audience": "all_members"}
        )
    assert response.status_code == 302
    lst.refresh_from_db()
    assert lst.name == "New" and queued == []


def test_editing_a_stale_list_to_another_tier_recovers_it(
    staff, merchant, connected, tiers, queued, django_capture_on_commit_callbacks
):
    lst = make_list(
        merchant, "Bronze", audience="vip_tier", tier=5, stale_since=timezone.now(), stale_reason="Tier gone."
    )
    make_tier(merchant, 5, "Bronze", exists=False)
    page = staff.get(f"/lists/{lst.pk}/edit/").content.decode()
    assert "This list is stale." in page and "Bronze (no longer in Smile)" in page
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(
            f"/lists/{lst.pk}/edit/",
            {"name": "Gold", "source": "smile", "audience": "vip_tier", "vip_tier": "7"},
        )
    lst.refresh_from_db()
    assert (lst.vip_tier_id, lst.is_stale, lst.published_seq) == (7, False, 0)
    assert queued == [merchant.pk]


def test_another_merchants_list_cannot_be_edited_or_deleted(staff, other_merchant):
    lst = make_list(other_merchant, "Theirs")
    assert staff.get(f"/lists/{lst.pk}/edit/").status_code == 404
    assert staff.post(f"/lists/{lst.pk}/edit/", {"name": "x", "audience": "all_members"}).status_code == 404
    assert staff.get(f"/lists/{lst.pk}/delete/").status_code == 404
    assert staff.post(f"/lists/{lst.pk}/delete/").status_code == 404
    assert LoyaltyList.objects.get(pk=lst.pk).name == "Theirs"


def test_deleting_asks_first_then_deletes(staff, merchant):
    lst = make_list(merchant, "Doomed")
    assert "Delete “Doomed”?" in staff.get(f"/lists/{lst.pk}/delete/").content.decode()
    assert LoyaltyList.objects.filter(pk=lst.pk).exists()
    response = staff.post(f"/lists/{lst.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/lists/"
    assert not LoyaltyList.objects.filter(pk=lst.pk).exists()
