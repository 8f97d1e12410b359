"""``python manage.py smile_doctor --merchant SLUG``: which of the product's assumptions about Smile hold
on this merchant's live connection, one line each, and what the product does about each (doctor.py).
Read-only; exits 1 when a line failed."""

from django.core.management.base import BaseCommand, CommandError

from integrations.smile.doctor import FAIL, compatibility_report
from loyalty_lists.merchants.models import Merchant


class Command(BaseCommand):
    help = "Probe a merchant's live Smile connection: what holds, and what the product does about each."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="Merchant slug.")

    def handle(self, *args, merchant, **options):
        try:
            merchant_obj = Merchant.objects.get(slug=merchant)
        except Merchant.DoesNotExist:
            raise CommandError(f"No merchant with slug {merchant!r}.") from None
        findings = compatibility_report(merchant=merchant_obj)
        for finding in findings:
            style = {"pass": self.style.SUCCESS, "warn": self.style.WARNING}.get(
                finding.status, self.style.ERROR
            )
            self.stdout.write(style(finding.line()))
        if any(f.status == FAIL for f in findings):
            raise CommandError("Some of Smile's answers stop the sync: see the [FAIL] lines.")
