"""The ``refedit`` command line, one module per command; the only package that prints or exits.

Heavy imports (torch, diffusers, transformers, spaCy) happen inside commands, so ``refedit --help`` and
``refedit stages`` stay fast. Errors are one line on stderr with a documented exit code (see
:mod:`refedit.errors`); ``--debug`` or ``REFEDIT_DEBUG=1`` shows the traceback.

Every command checks what it was given before any work, cheapest first, and none of these checks imports
torch: the values (options by the chosen stages' declared types and ranges, the seed, the environment),
the outputs (the folder exists and accepts new files), the inputs (image, masks), then that every model the
chosen stages need can be read or downloaded. Only then do models load.

Layout: :mod:`~refedit.cli.app` (the group, error and warning handling), :mod:`~refedit.cli.options` (the shared
option groups and their checks), :mod:`~refedit.cli.streams` (stdin/stdout and files), :mod:`~refedit.cli.progress`,
and a module per command (``stages``, ``parse``, ``segment``, ``edit``, ``batch``).
"""

from refedit.cli.app import main
from refedit.cli import batch, edit, eval, parse, segment, serve, stages  # noqa: F401  (each registers its command)

__all__ = ["main"]
