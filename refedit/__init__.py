"""refedit: edit one referred object in a photo from a plain-English instruction.

    >>> import refedit
    >>> result = refedit.edit("cats.jpg", "replace the left cat with a tiger", seed=0)
    >>> result.image.save("out.png")

Importing refedit is light: torch and the models load only when a stage first needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refedit import errors  # noqa: F401  (refedit.errors.Ambiguous etc. after a plain "import refedit"; no torch)

__version__ = "0.1.0"
__all__ = ["edit", "errors", "__version__"]

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
    inpainting checkpoint is available.
    """
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
        image = load_image(image).rgb
    else:  # a PIL image or an array: normalised as a file would be (16-bit, alpha on white)
        image = image_in_memory(image).rgb
    if not isinstance(instruction, str):
        raise BadInput(f"the instruction must be text, not {type(instruction).__name__}")
    seed = check_seed(seed)
    if hints is not None and not isinstance(hints, Hints):
        raise BadInput(f"hints must be a refedit Hints, not {type(hints).__name__}")
    hints = check_hints(hints or Hints(), image.size)
    from refedit.pipeline.stages import check_options

    checked = {"parser": parser, "segmenter": segmenter, "editor": editor or "diffedit"}
    options = check_options(options, checked)  # typos refused
    settings = Settings.resolve(models=models, device=device, dtype=dtype)
    pipe = Pipeline.build(settings, parser=parser, segmenter=segmenter, editor=editor, options=options)
    request = EditRequest(image=image, instruction=instruction, hints=hints or Hints(), seed=seed, image_path=path)
    return pipe.run(request)
