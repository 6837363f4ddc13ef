"""``refedit serve``: a local web page (Gradio) over the same :class:`~refedit.pipeline.chain.Pipeline`,
artifacts and one shared :class:`~refedit.pipeline.models.ModelStore`.

Layout: :mod:`~refedit.serve.session` (pure helpers: the uploaded image, plan fields, hints from the page,
overlays, files of a result), :mod:`~refedit.serve.jobs` (the server: one model store, one job at a time,
progress, cancel; no Gradio), :mod:`~refedit.serve.page` (the Gradio page; the only module importing Gradio).
"""

from __future__ import annotations

from refedit.errors import ModelUnavailable

INSTALL_HINT = "pip install 'refedit[serve]'"


def require_gradio() -> None:
    """Raise :class:`ModelUnavailable` (exit 5) with how to install Gradio when it cannot be imported."""
    try:
        import gradio  # noqa: F401
    except ImportError as err:
        raise ModelUnavailable(f"refedit serve needs Gradio, which is not installed ({err.name or err}); "
                               f"install it with: {INSTALL_HINT}") from None  # fmt: skip
