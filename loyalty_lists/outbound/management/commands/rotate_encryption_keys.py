"""Re-encrypt every secret stored with FIELD_ENCRYPTION_KEYS — Smile tokens and outbound webhook signing
secrets — with the newest key. (It lives with the outbound app, the one that knows both kinds.)"""

from django.core.management.base import BaseCommand, CommandError

from integrations.smile.crypto import DecryptionError
from integrations.smile.services import encryption_keys_rotate
from loyalty_lists.outbound.endpoints import endpoint_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt stored Smile tokens and webhook signing secrets with the first (newest)"
        " FIELD_ENCRYPTION_KEYS key. Run after prepending a new key; drop the old key only afterwards."
    )

    def handle(self, *args, **options):
        try:
            connections = encryption_keys_rotate()
            endpoints = endpoint_secrets_reencrypt()
        except DecryptionError as exc:
            raise CommandError(f"{exc} Is the old key still listed in FIELD_ENCRYPTION_KEYS?") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted the secrets of {connections} Smile connection(s)"
                f" and {endpoints} webhook endpoint(s)."
            )
        )
