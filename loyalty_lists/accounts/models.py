from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


class StaffUserManager(UserManager):
    """Email is the login; ``username`` is kept only because Django's admin and auth expect it."""

    def create_user(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("username", email)
        return super().create_user(email=email, password=password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):
        extra_fields.setdefault("username", email)
        return super().create_superuser(email=email, password=password, **extra_fields)


class User(AbstractUser):
    """A staff member who signs in with email + password (and optionally MFA)."""

    email = models.EmailField("email address", unique=True)

    objects = StaffUserManager()

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    def save(self, *args, **kwargs):
        self.email = (self.email or "").strip().lower()
        if not self.username:
            self.username = self.email
        super().save(*args, **kwargs)
