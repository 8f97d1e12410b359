"""``python manage.py smile_sandbox``: run the Smile.io sandbox server (thin wrapper, no ORM use)."""

from django.core.management.base import BaseCommand, CommandError

from integrations.smile.sandbox.config import add_arguments, config_from_options


class Command(BaseCommand):
    help = (
        "Run the Smile.io sandbox: OAuth (/oauth2/*), REST (/v1/*) and the control API (/_sandbox/*). "
        "Data is generated deterministically from --seed into its own SQLite file (--db)."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        from integrations.smile.sandbox.server import serve

        try:
            cfg = config_from_options(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        serve(cfg)
