"""Tenants. Every other row in the system belongs to exactly one ``Merchant``."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


class Merchant(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """Links a staff user to a merchant they may administer."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="uniq_membership")]

    def __str__(self):
        return f"{self.user} @ {self.merchant}"


class MerchantOwnedQuerySet(models.QuerySet):
    """Base queryset for every merchant-owned model: ``Model.objects.for_merchant(m)``."""

    def for_merchant(self, merchant):
        if merchant is None:
            return self.none()
        return self.filter(merchant=merchant)


MerchantOwnedManager = models.Manager.from_queryset(MerchantOwnedQuerySet)
