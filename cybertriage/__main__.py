"""`python -m cybertriage` runs the command line; the frozen `cybertriage` executable runs this file too."""

import sys

from cybertriage.assets import use_bundled_magic_database

use_bundled_magic_database()

from cybertriage.cli import main  # noqa: E402  (a frozen libmagic must be pointed at its database first)

sys.exit(main())
