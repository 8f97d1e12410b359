from django import forms

from loyalty_lists.lists.models import ListChange

from .ssrf import URL_MAX_LENGTH


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=URL_MAX_LENGTH,
        help_text="Where we POST signed batches of changes (https:// in production; public addresses only).",
        widget=forms.URLInput(
            attrs={"placeholder": "https://hooks.example.com/smile-lists", "spellcheck": "false"}
        ),
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events",
        choices=ListChange.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    list_ids = forms.TypedMultipleChoiceField(
        label="Lists",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every list.",
    )

    def __init__(self, *args, lists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["list_ids"].choices = [(lst.pk, lst.name) for lst in lists]
