"""``manage.py create_api_key --merchant SLUG --name NAME``: the full key is the last line of output."""

from django.core.management.base import BaseCommand, CommandError

from loyalty_lists.api.keys import api_key_create
from loyalty_lists.merchants.models import Merchant


class Command(BaseCommand):
    help = "Create an API key for a merchant and print it (last line). It is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="The merchant's slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")

    def handle(self, *args, merchant, name, **options):
        found = Merchant.objects.filter(slug=merchant).first()
        if found is None:
            raise CommandError(f"No merchant with slug {merchant!r}.")
        if not name.strip():
            raise CommandError("--name must not be blank.")
        key, text = api_key_create(merchant=found, name=name)
        self.stdout.write(f"Created API key {key.name!r} (prefix {key.prefix}) for {found.name}.")
        self.stdout.write("Store it now; it is not shown again:")
        self.stdout.write(text)
