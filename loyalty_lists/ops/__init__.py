"""Operating the fleet: health for load balancers, Prometheus metrics, the staff-only Fleet page.

health.py      /healthz (the process answers; no database) and /readyz (database, broker, a live cluster)
collectors.py  the figures /metrics reads from the database at scrape time (freshness lag, queues, held runs)
middleware.py  request latency by route (the lookup's latency among them)
selectors.py   the Fleet page's cross-merchant reads (operators only: never reachable by a merchant)
views.py       the four views; /metrics needs METRICS_TOKEN, the Fleet page a Django staff user
"""
