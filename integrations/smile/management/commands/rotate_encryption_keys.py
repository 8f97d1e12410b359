"""Re-encrypt every stored Smile secret with the newest key in FIELD_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand, CommandError

from integrations.smile.crypto import DecryptionError
from integrations.smile.services import encryption_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt stored Smile tokens with the first (newest) FIELD_ENCRYPTION_KEYS key. Run after "
        "prepending a new key; drop the old key only afterwards."
    )

    def handle(self, *args, **options):
        try:
            count = encryption_keys_rotate()
        except DecryptionError as exc:
            raise CommandError(f"{exc} Is the old key still listed in FIELD_ENCRYPTION_KEYS?") from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the secrets of {count} Smile connection(s)."))
