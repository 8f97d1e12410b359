"""Re-encrypt webhook signing secrets with the newest FIELD_ENCRYPTION_KEYS key (run it with
``rotate_encryption_keys``, before dropping an old key)."""

from django.core.management.base import BaseCommand

from loyalty_lists.outbound.endpoints import endpoint_secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every webhook signing secret with the newest FIELD_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        self.stdout.write(
            f"Re-encrypted the signing secrets of {endpoint_secrets_reencrypt()} webhook endpoints."
        )
