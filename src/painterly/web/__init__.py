"""``painterly serve``: a small web app over ``jobs.Job`` with live preview, a queue and a gallery.

``server`` assembles the FastAPI app and runs it; ``routes`` holds the HTTP API (``inside_routes`` its See inside part), ``forms`` the settings
form (from ``Settings``' metadata), ``uploads`` the checked uploads, ``guards`` the Host/Origin/body-size
checks in front of it all and ``limits`` their bounds; ``store`` is the SQLite index of jobs and uploads
(it creates jobs and moves them through ``painterly.queue``'s life cycle), ``worker`` the single thread
that runs one job at a time; ``static`` is the page (vanilla JS, no build step).
"""
