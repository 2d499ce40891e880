"""Frozen entry point of `cybertriage`, the command line; PyInstaller runs this file as __main__."""

import sys

from cybertriage.assets import use_bundled_magic_database

use_bundled_magic_database()

from cybertriage.cli import main  # noqa: E402  (libmagic must be pointed at its database first)

sys.exit(main())
