from django import forms
from django.core.exceptions import ValidationError

from loyalty_lists.lists.membership import describe, email_normalize, email_valid
from loyalty_lists.lists.models import Audience, CustomerState

from .selectors import DEFAULT_SORT, NO_TIER, SORTS

SOURCE_CHOICES = [("smile", "Smile.io")]
AUDIENCE_HELP = {
    Audience.ALL_MEMBERS: describe(Audience.ALL_MEMBERS),
    Audience.MEMBERS_AND_CANDIDATES: describe(Audience.MEMBERS_AND_CANDIDATES),
    Audience.VIP_TIER: "Shoppers in the VIP tier you pick below who are not disabled, with an email.",
}
# Service errors name model fields; the form's fields are named for people.
SERVICE_FIELDS = {"name": "name", "audience": "audience", "vip_tier_id": "vip_tier"}


class ListForm(forms.Form):
    """Create or edit a list. ``tiers``: the merchant's VIP tiers (``VipTier`` rows that exist in Smile);
    a stale list's vanished tier is offered too so the form shows what it was."""

    name = forms.CharField(
        max_length=200, help_text="Shown on these pages and in the API's answers (your workflow conditions)."
    )
    source = forms.ChoiceField(
        choices=SOURCE_CHOICES,
        initial="smile",
        widget=forms.RadioSelect,
        label="Source",
        help_text="Lists are computed from your Smile.io loyalty program.",
    )
    audience = forms.ChoiceField(choices=Audience.choices, widget=forms.RadioSelect, label="Audience")
    vip_tier = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="VIP tier")

    def __init__(self, *args, tiers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tiers = list(tiers)
        self.fields["vip_tier"].help_text = (
            "The tiers of your Smile program, as Smile lists them now (for the “One VIP tier” audience)."
            if self.tiers
            else "Your Smile program has no VIP tiers (yet)."
        )
        self.fields["vip_tier"].choices = [("", "Choose a tier…")] + [
            (t.smile_id, t.name if t.exists_in_smile else f"{t.name} (no longer in Smile)")
            for t in self.tiers
        ]

    def audience_options(self):
        """(radio widget, description) per audience, for the template."""
        return [(radio, AUDIENCE_HELP.get(radio.data["value"], "")) for radio in self["audience"]]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("A list needs a name.")
        return name

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("audience") == Audience.VIP_TIER:
            if cleaned.get("vip_tier") is None and "vip_tier" not in self.errors:
                self.add_error("vip_tier", "Choose the VIP tier of this list.")
        else:
            cleaned["vip_tier"] = None
        return cleaned

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's ``ValidationError`` next to the field it is about."""
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                self.add_error(SERVICE_FIELDS.get(field), messages)
        else:
            self.add_error(None, error.messages)


class SearchInput(forms.TextInput):
    input_type = "search"


class ItemFilterForm(forms.Form):
    """Search, filter and sort of the list detail page (GET)."""

    q = forms.CharField(
        required=False,
        label="Email contains",
        max_length=254,
        widget=SearchInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    state = forms.ChoiceField(
        required=False,
        label="State",
        choices=[("", "Any state")] + [c for c in CustomerState.choices if c[0] != CustomerState.DISABLED],
    )
    tier = forms.ChoiceField(required=False, label="VIP tier")
    sort = forms.ChoiceField(required=False, label="Sort by", choices=[(k, v[0]) for k, v in SORTS.items()])

    def __init__(self, *args, tiers=(), **kwargs):
        """``tiers``: ``(smile id, label)`` of the tiers to offer (``selectors.tier_filter_options``)."""
        super().__init__(*args, **kwargs)
        self.fields["tier"].choices = [("", "Any tier"), (NO_TIER, "No tier")] + [
            (str(smile_id), label) for smile_id, label in tiers
        ]

    def _valid(self) -> dict:
        """The valid fields only; an invalid one is ignored (a stale bookmark still shows the list)."""
        self.is_valid()
        return getattr(self, "cleaned_data", {})

    def filters(self) -> dict:
        data = self._valid()
        return {
            "search": data.get("q", ""),
            "state": data.get("state", ""),
            "tier": data.get("tier", ""),
        }

    def sort_key(self) -> str:
        return self._valid().get("sort") or DEFAULT_SORT


class ShopperForm(forms.Form):
    """One email, checked with ``email_valid``: the rule the API's lookups use."""

    email = forms.CharField(
        label="Shopper email",
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "shopper@example.com"}
        ),
    )

    def clean_email(self):
        email = self.cleaned_data["email"]
        if not email_valid(email):
            raise ValidationError("Enter a valid email address, e.g. shopper@example.com.")
        return email_normalize(email)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What uses this key, e.g. “Klaviyo flows” — so you know what breaks if you revoke it.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise ValidationError("Give the key a name.")
        return name
