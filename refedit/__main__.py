"""``python -m refedit`` and the ``refedit`` console script.

The command line lives in :mod:`refedit.cli`; importing it is the part of start-up a Ctrl-C is most likely to
hit, so it is imported here, where an interrupt is the same one line as later: ``refedit: error:
interrupted``, exit code 130.
"""

from __future__ import annotations

import sys


def run() -> None:
    """Import the command line and run it; Ctrl-C at any point after this module loads is one line."""
    try:
        from refedit.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("refedit: error: interrupted\n")
        sys.exit(130)
    main()


if __name__ == "__main__":  # pragma: no cover
    run()
