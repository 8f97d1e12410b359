"""The sync engine: Smile -> customer snapshot -> lists. See ``cycle.py`` for the whole picture.

cycle.py    one cycle per merchant (lease, tiers, fetch, publish, record)
webhook.py  single-customer refresh (webhooks)
lease.py    at most one cycle per merchant
state.py    watermark, change counter, full-walk checkpoint
fetch.py    parallel cursor chains -> batches
snapshot.py conditional batched upserts, tombstones
rows.py     upsert rows built from parsed customers (no Django: the fetch helper builds them)
tiers.py    VIP tiers, stale lists
publish.py  set-based list publish, guardrail
"""
