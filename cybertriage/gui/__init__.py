"""The desktop application: PySide6 lives here and nowhere else in cybertriage.

The GUI reads the case database through its own read-only connections and runs
the core `Scan` on a thread-pool worker; it never parses evidence itself except
to show one file's bytes on request (see `content.py`).
"""
