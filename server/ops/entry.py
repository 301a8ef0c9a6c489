"""The ``strongroom`` command's entry point: before the modules load (a second or more),
``strongroom tui`` holds the keys typed ahead, unseen (``server.core.typeahead``); then
the command line runs (``server.ops.cli``)."""

from __future__ import annotations

import sys


def main() -> int:
    """Run ``strongroom`` with ``sys.argv``; its exit status (``server.ops.cli.main``)."""
    from server.core.typeahead import hold_keys

    commands = [a for a in sys.argv[1:] if not a.startswith("-")]  # --debug is the only option
    restore = hold_keys(0) if commands[:1] == ["tui"] else None
    try:
        from server.ops.cli import main as run

        return run()
    finally:
        if restore is not None:
            restore()


if __name__ == "__main__":  # bin/strongroom of a silent install (program_files.py)
    sys.exit(main())
