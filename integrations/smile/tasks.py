"""django-q2 tasks of the Smile integration: thin, take ids (here: the account id)."""

from . import routing


def webhook_account_bind_task(account_id: str) -> str:
    connection = routing.account_bind(account_id=account_id)
    if connection is None:
        return f"Smile account {account_id}: no connection has its customer; its webhooks stay unrouted"
    return (
        f"Smile account {account_id}: bound to connection {connection.pk} (merchant {connection.merchant_id})"
    )
