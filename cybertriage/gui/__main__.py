"""`python -m cybertriage.gui` runs the desktop application; the frozen `cybertriage-gui` executable runs this file too."""

import multiprocessing
import sys

from cybertriage.assets import use_bundled_magic_database

if __name__ == "__main__":  # not when the disk listing process (multiprocessing 'spawn') imports this file
    multiprocessing.freeze_support()  # the frozen executable started as that listing process: run it, then exit
    use_bundled_magic_database()

    from cybertriage.gui.app import main  # noqa: E402  (a frozen libmagic must be pointed at its database first)

    sys.exit(main())
