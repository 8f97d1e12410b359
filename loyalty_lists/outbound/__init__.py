"""The outbound side: lists flow out of the service.

feed.py       the change feed (``ListChange`` in commit order): pages, cursors, retention
endpoints.py  webhook endpoints: create, change, rotate secrets, enable/disable, replay (services)
ssrf.py       where an endpoint may point (no private/loopback/link-local addresses in production)
dispatch.py   batches of changes (the outbox is the feed itself) and their delivery, one in flight per
              endpoint, retries with backoff, automatic disable
delivery.py   one signed HTTP delivery (Standard Webhooks, ``standardwebhooks``)
alerts.py     conditions people hear about by email and on the overview page
selectors.py  reads for the pages and the API
views.py      the admin pages (webhooks, alerts)
tasks.py      django-q2 tasks (dispatcher, alerts, retention)
"""
