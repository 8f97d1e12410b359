"""Idempotent demo data: merchant ``demo`` and its admin (email/password from the environment)."""

import os

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from loyalty_lists.merchants.models import Membership, Merchant

DEFAULT_EMAIL = "admin@demo.example"
DEFAULT_PASSWORD = "smile-demo-2026"


class Command(BaseCommand):
    help = "Create (or refresh) the demo merchant and its admin. Safe to run any number of times."

    def handle(self, *args, **options):
        email = os.environ.get("DEMO_ADMIN_EMAIL", DEFAULT_EMAIL).strip().lower()
        password = os.environ.get("DEMO_ADMIN_PASSWORD", DEFAULT_PASSWORD)
        with transaction.atomic():
            merchant, _ = Merchant.objects.update_or_create(
                slug="demo", defaults={"name": "Demo Store", "timezone": "Europe/London"}
            )
            User = get_user_model()
            user = User.objects.filter(email=email).first() or User(email=email, username=email)
            user.is_staff = True
            user.is_superuser = True
            user.is_active = True
            user.set_password(password)
            user.save()
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            Membership.objects.get_or_create(
                merchant=merchant, user=user, defaults={"role": Membership.Role.OWNER}
            )
        self.stdout.write(f"Demo merchant: {merchant.name} (slug {merchant.slug})")
        self.stdout.write(f"Smile API: {settings.SMILE_API_BASE} (the bundled sandbox by default)")
        self.stdout.write(f"Log in at {settings.SITE_URL}/accounts/login/ as {email} / {password}")
