"""``painterly serve``: a small web app over ``jobs.Job`` with live preview, a queue and a gallery.

``server`` holds the FastAPI app, ``store`` the SQLite index of jobs and uploads, ``worker`` the single
thread that runs one job at a time; ``static`` is the page (vanilla JS, no build step).
"""
