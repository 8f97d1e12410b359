"""Task functions the production-path tests hand to a real qcluster (imported by the worker)."""

import os


def describe_worker() -> dict:
    """Where the task ran: the worker's pid and the database it reads."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    return {
        "pid": os.getpid(),
        "vendor": connection.vendor,
        "database": connection.settings_dict["NAME"],
        "users": sorted(get_user_model().objects.values_list("email", flat=True)),
    }
