"""refedit: edit one referred object in a photo from a plain-English instruction.

    >>> import refedit
    >>> result = refedit.edit("cats.jpg", "replace the left cat with a tiger", seed=0)
    >>> result.save("out.png")  # as `refedit edit -o out.png` writes it (the input's alpha and colour profile)

Importing refedit is light: torch and the models load only when a stage first needs them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from refedit import errors  # noqa: F401  (refedit.errors.Ambiguous etc. after a plain "import refedit"; no torch)

__version__ = "0.1.0"
__all__ = ["edit", "release", "errors", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from os import PathLike

    from PIL import Image

    from refedit.pipeline.artifacts import EditResult


def edit(
    image: "str | PathLike[str] | Image.Image",
    instruction: str,
    *,
    seed: int = 0,
    parser: str = "rules",
    segmenter: str = "grounded-sam",
    editor: str | None = None,
    models: dict[str, str] | None = None,
    device: str | None = None,
    dtype: str | None = None,
    hints: Any = None,
    **options: Any,
) -> "EditResult":
    """Edit ``image`` as ``instruction`` says and return the :class:`EditResult`.

    ``models`` maps roles ("sd", "grounding", "sam", "clip", ...) to model ids or local directories;
    ``options`` are stage options such as ``steps``, ``encode_ratio``, ``guidance``. ``editor=None`` is
    DiffEdit, with additions ("add a cup to the left of the book") going to the inpainting editor when an
    inpainting checkpoint is available. The models stay loaded for the next call with the same settings (the
    last settings' models are kept; :func:`release` frees them).
    """
    from dataclasses import replace
    from os import PathLike

    from refedit.config import Settings, check_seed
    from refedit.errors import BadInput
    from refedit.pipeline.artifacts import EditRequest, Hints
    from refedit.pipeline.chain import Pipeline
    from refedit.pipeline.imageio import image_in_memory, load_image
    from refedit.pipeline.segment.hints import check_hints

    path = None
    if isinstance(image, (str, PathLike)):
        path = str(image)
        source = load_image(image)
    else:  # a PIL image or an array: normalised as a file would be (16-bit, alpha on white)
        source = image_in_memory(image)
    image = source.rgb
    if not isinstance(instruction, str):
        raise BadInput(f"the instruction must be text, not {type(instruction).__name__}")
    seed = check_seed(seed)
    if hints is not None and not isinstance(hints, Hints):
        raise BadInput(f"hints must be a refedit Hints, not {type(hints).__name__}")
    hints = check_hints(hints or Hints(), image.size)
    from refedit.pipeline.stages import check_options

    # typos refused before the store is chosen (a bad call must not drop the models the last call loaded)
    checked = {"parser": parser, "segmenter": segmenter, "editor": editor or "diffedit"}
    options = check_options(options, checked)
    settings = Settings.resolve(models=models, device=device, dtype=dtype)
    pipe = Pipeline.build(settings, parser=parser, segmenter=segmenter, editor=editor, options=options,
                          store=_store_for(settings))  # fmt: skip
    request = EditRequest(image=image, instruction=instruction, hints=hints or Hints(), seed=seed, image_path=path)
    return replace(pipe.run(request), source=source)  # result.save() gives the output the input's alpha and profile


_last_store: "tuple[Any, Any] | None" = None  # (Settings, ModelStore) of the last refedit.edit call


def _store_for(settings: Any) -> Any:
    """The models of the last call when ``settings`` are equal (a script editing a folder loads them once), else a
    new store, the old one dropped (one set of models in memory at a time)."""
    global _last_store
    from refedit.pipeline.models import ModelStore

    if _last_store is None or _last_store[0] != settings:
        _last_store = None  # the old models go before the new ones load
        _last_store = (settings, ModelStore(settings))
    return _last_store[1]


def release() -> None:
    """Free the models :func:`edit` keeps loaded between calls, and the prompts' tokens kept beside them (which
    hold their tokenizers)."""
    global _last_store
    _last_store = None
    if "refedit.pipeline.segment.tokens" in sys.modules:  # loaded with the segmenters: nothing to free otherwise
        sys.modules["refedit.pipeline.segment.tokens"].forget()
