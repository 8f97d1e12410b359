"""Connect a merchant to Smile with a private API key (operators): validated live before saving."""

import sys

from django.core.management.base import BaseCommand, CommandError

from integrations.smile.errors import SmileError
from integrations.smile.services import connection_api_key_connect
from loyalty_lists.merchants.models import Merchant


class Command(BaseCommand):
    help = "Connect a merchant to Smile.io with a private API key (checked with GET /v1/vip_tiers first)."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="Merchant slug.")
        parser.add_argument(
            "--api-key", required=True, help='The Smile private API key, or "-" to read it from stdin.'
        )

    def handle(self, *args, merchant, api_key, **options):
        try:
            merchant_obj = Merchant.objects.get(slug=merchant)
        except Merchant.DoesNotExist:
            raise CommandError(f"No merchant with slug {merchant!r}.") from None
        if api_key == "-":
            api_key = sys.stdin.readline()
        api_key = api_key.strip()
        if not api_key:
            raise CommandError("The API key is empty.")
        try:
            connection_api_key_connect(merchant=merchant_obj, user=None, api_key=api_key)
        except SmileError as exc:
            raise CommandError(f"Smile did not accept the key: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(f"Connected {merchant_obj.name} ({merchant}) to Smile with an API key.")
        )
