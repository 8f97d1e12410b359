from django import forms


class ApiKeyForm(forms.Form):
    """Paste a Smile private API key. The key is never rendered back into the page."""

    api_key = forms.CharField(
        label="Private API key",
        max_length=512,
        strip=True,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "aria-describedby": "api-key-help",
            },
        ),
        help_text="A private key from Smile Admin (Plus and Enterprise plans). Keys start with “api_”.",
    )

    def clean_api_key(self):
        key = self.cleaned_data["api_key"]
        if len(key) < 8 or any(ch.isspace() for ch in key):
            raise forms.ValidationError("That does not look like a Smile API key; paste the whole key.")
        return key
