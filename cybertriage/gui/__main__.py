"""`python -m cybertriage.gui` runs the desktop application; so do the `cybertriage-gui` console script and
the frozen `cybertriage-gui` executable.

Light on purpose, as `cybertriage/__main__.py` is: a spawned child process (capture analysis, disk
listing) imports the main script again, and must not import Qt for that.
"""

import multiprocessing
import sys

from cybertriage.assets import use_bundled_magic_database


def main() -> int:
    """Run the application (a frozen libmagic must be pointed at its database before it is imported)."""
    use_bundled_magic_database()
    from cybertriage.gui.app import main as run_application

    return run_application()


if __name__ == "__main__":  # not when a spawned child process imports this file
    multiprocessing.freeze_support()  # the frozen executable started as a child process: run it, then exit
    sys.exit(main())
