"""`python -m cybertriage` runs the command line; so do the `cybertriage` console script and the frozen
`cybertriage` executable.

This module stays light on purpose. A capture is analysed, and a disk listed, in a child process
started with multiprocessing's 'spawn', which imports the parent's main script again before it does
anything else. Here that script imports only this module, not the whole command line.
"""

import multiprocessing
import sys

from cybertriage.assets import use_bundled_magic_database


def main() -> int:
    """Run the command line (a frozen libmagic must be pointed at its database before it is imported)."""
    use_bundled_magic_database()
    if sys.argv[1:2] == ["scan"]:  # it examines evidence in a child process: started while the rest loads
        from cybertriage.evidence.watchdog import start_early

        start_early(modules=("cybertriage.analyzers.net.analyse",))  # the capture analysis, should there be a capture
    from cybertriage.cli import main as run_command_line

    return run_command_line()


if __name__ == "__main__":  # not when a spawned child process imports this file
    multiprocessing.freeze_support()  # the frozen executable started as a child process: run it, then exit
    sys.exit(main())
