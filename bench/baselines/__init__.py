"""Figure 5's baselines, each a WSGI app served by the same gunicorn config as the product: ``bare`` (one
indexed query in a bare Django view) and ``bare_work`` (the lookup's own work in a plain view)."""
