"""``python -m refedit.cli``: the same as the ``refedit`` console script."""

from refedit.__main__ import run

run()
