"""The admin pages: server-rendered templates (``templates/web/``), htmx (vendored by django-htmx) only
where a page updates itself. Every view is ``@merchant_page``: signed in, scoped to ``request.merchant``
(another merchant's ids are 404), rendered in the merchant's time zone.

    /                                    overview: connection, lists needing attention, sync panel
    /lists/                              lists index (audience, tier, members, last synced, stale / held)
    /lists/new/, /lists/<id>/edit/       create / edit, live tier picker, preview (/lists/preview/, htmx)
    /lists/<id>/                         members: search, filter, sort, keyset pages; chart; banners
    /lists/<id>/export.csv               streamed CSV of what the list page shows (same query string)
    /lists/<id>/delete/                  confirm, then delete
    /lists/<id>/held/<result_id>/approve|discard   (POST) decide a held run
    /runs/, /runs/<id>/                  sync history, one run's list outcomes and changes
    /runs/progress/                      the progress bar (htmx partial; polls itself while a sync runs)
    /sync-now/                           (POST) queue a cycle
    /shoppers/?email=                    a shopper's lists, why not the others, history
    /api-keys/, /api-keys/<id>/revoke/   the JSON API's keys: create (shown once, post/redirect/get), revoke

The sync panel of the Smile connection page is ``templates/web/_sync_panel.html``; the 404 and 500 pages
(``templates/404.html``, ``500.html``) are ``views/errors.py``, set as ``handler404`` / ``handler500``.
"""
