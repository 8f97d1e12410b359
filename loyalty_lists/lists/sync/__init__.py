"""The sync engine: Smile -> customer snapshot -> lists. See ``cycle.py`` for the whole picture.

cycle.py      one cycle per merchant (lease, customers, tiers, publish, record)
full_walk.py  a cycle's full walk: checkpointed parallel chains, catch-up pass, gone customers
fetch.py      parallel cursor chains -> batches
refresh.py    webhook refreshes: coalesced requests, drained in batches through the same publish
queue.py      queued cycles (at most one per merchant), fan-outs, the sweep that repairs dead workers' work
dispatch.py   the cycles' django-q2 tasks: which queue (full walks apart), many sent together
slots.py      each merchant's daily full reconcile at its own minute of the day
publish.py    the one door into a list: snapshot -> items, stale lists, removal guardrail
record.py     what runs did to lists (cycles; webhook refreshes grouped per minute)
tiers.py      VIP tiers, stale lists
lease.py      at most one cycle per merchant
state.py      watermark, change counter, full-walk checkpoint
snapshot.py   conditional batched upserts, tombstones
sql.py        the few helpers of the hand-written SQL (publish, snapshot)
"""
