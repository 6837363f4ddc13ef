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
from refedit.errors import in_library_terms

__version__ = "0.1.0"
__all__ = ["edit", "segment", "release", "errors", "Hints", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from os import PathLike

    import numpy as np
    from PIL import Image

    from refedit.config import Settings
    from refedit.pipeline.artifacts import EditPlan, EditResult, Hints, Segmentation
    from refedit.pipeline.imageio import LoadedImage


@in_library_terms
def edit(
    image: "str | PathLike[str] | Image.Image | np.ndarray",
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
    """Edit ``image`` as ``instruction`` says and return the :class:`EditResult` (``result.save(path)`` writes
    it as the command line does).

    ``models`` maps roles ("sd", "grounding", "sam", "clip", ...) to model ids or local directories;
    ``options`` are stage options such as ``steps``, ``encode_ratio``, ``guidance``. ``editor=None`` is
    DiffEdit, with additions ("add a cup to the left of the book") going to the inpainting editor when an
    inpainting checkpoint is available. The models stay loaded for the next call with the same settings (the
    last settings' models are kept; :func:`release` frees them).
    """
    from dataclasses import replace

    from refedit.config import check_seed
    from refedit.pipeline.artifacts import EditRequest
    from refedit.pipeline.chain import Pipeline

    seed = check_seed(seed)
    source, hints = _inputs(image, instruction, hints)
    options, settings = _settings(options, {"parser": parser, "segmenter": segmenter, "editor": editor or "diffedit"},
                                  models, device, dtype)  # fmt: skip
    store = _store_for(settings)
    pipe = Pipeline.build(settings, parser=parser, segmenter=segmenter, editor=editor, options=options, store=store)
    _keep(settings, store)
    request = EditRequest(image=source.rgb, instruction=instruction, hints=hints, seed=seed,
                          image_path=None if source.path is None else str(source.path))  # fmt: skip
    return replace(pipe.run(request), source=source)  # result.save() gives the output the input's alpha and profile


@in_library_terms
def segment(
    image: "str | PathLike[str] | Image.Image | np.ndarray",
    instruction: str,
    *,
    parser: str = "rules",
    segmenter: str = "grounded-sam",
    models: dict[str, str] | None = None,
    device: str | None = None,
    dtype: str | None = None,
    hints: Any = None,
    **options: Any,
) -> "tuple[EditPlan, Segmentation]":
    """The plan and the mask of the object ``instruction`` refers to in ``image``, without editing (``refedit
    segment``): the instruction may be an edit ("replace the left cat with a tiger") or a bare expression ("the
    left cat"), or name nothing when ``hints`` choose. ``segmentation.mask`` is an HxW bool array; an empty one
    raises :class:`~refedit.errors.TargetNotFound`. Arguments as :func:`edit`'s; the models loaded stay for the
    next call with the same settings, :func:`edit`'s included."""
    from refedit.pipeline.chain import build_stage, check_not_empty, refuse_hints
    from refedit.pipeline.parse.segmenting import segmentation_plan

    source, hints = _inputs(image, instruction, hints)
    options, settings = _settings(options, {"parser": parser, "segmenter": segmenter}, models, device, dtype)
    store = _store_for(settings)
    stage = build_stage("segmenter", segmenter, store=store, **options)  # checkpoint types checked before parsing
    refuse_hints(stage, hints)
    parse = build_stage("parser", parser, store=store, **options)
    _keep(settings, store)
    plan = segmentation_plan(parse, instruction, image=source.rgb, hinted=not hints.empty)
    found = stage.segment(image=source.rgb, plan=plan, hints=hints)
    return plan, check_not_empty(found, f"the {segmenter} segmenter found no pixels of {plan.target.expression!r}")


def __getattr__(name: str) -> Any:
    """``refedit.Hints`` (boxes, points, a rough or an exact mask for ``hints=``), imported when first asked for."""
    if name == "Hints":
        from refedit.pipeline.artifacts import Hints

        return Hints
    raise AttributeError(f"module 'refedit' has no attribute {name!r}")


def _inputs(image: Any, instruction: Any, hints: Any) -> "tuple[LoadedImage, Hints]":
    """The picture (a path, a PIL image or a uint8 array: normalised as a file is, 16-bit scaled, alpha on white)
    and the hints, checked as the command line checks them (:class:`~refedit.errors.BadInput`)."""
    from os import PathLike

    from refedit.errors import BadInput
    from refedit.pipeline.artifacts import Hints
    from refedit.pipeline.imageio import image_in_memory, load_image
    from refedit.pipeline.segment.hints import check_hints

    source = load_image(image) if isinstance(image, (str, PathLike)) else image_in_memory(image)
    if not isinstance(instruction, str):
        raise BadInput(f"the instruction must be text, not {type(instruction).__name__}")
    if hints is not None and not isinstance(hints, Hints):
        raise BadInput(f"hints must be a refedit Hints, not {type(hints).__name__}")
    return source, check_hints(hints or Hints(), source.rgb.size)


def _settings(options: dict[str, Any], stages: dict[str, str], models: dict[str, str] | None, device: str | None,
              dtype: str | None) -> "tuple[dict[str, Any], Settings]":  # fmt: skip
    """The options checked against the chosen ``stages`` (typos refused before a store is chosen: a bad call
    must not drop the models the last call loaded), and the settings."""
    from collections.abc import Mapping

    from refedit.config import Settings
    from refedit.errors import BadInput
    from refedit.pipeline.edit.options import ratio_list_as_sweep
    from refedit.pipeline.stages import check_options

    if models is not None and not isinstance(models, Mapping):
        raise BadInput(f"models must map roles to model ids or folders (models={{'sd': 'path/to/sd'}}), not "
                       f"{type(models).__name__}")  # fmt: skip
    options = ratio_list_as_sweep(options, "encode_ratio='R1,R2,...' or encode_ratios='START:STOP:STEP'")
    return check_options(options, stages), Settings.resolve(models=models, device=device, dtype=dtype)


_last_store: "tuple[Any, Any] | None" = None  # (Settings, ModelStore) of the last refedit.edit call


def _store_for(settings: Any) -> Any:
    """The models of the last call when ``settings`` are equal (a script editing a folder loads them once), else a
    new store, kept by :func:`_keep` once the stages are built on it: a call that fails before (a model that is not
    there, a checkpoint of the wrong kind) leaves the last call's models loaded."""
    from refedit.pipeline.models import ModelStore

    if _last_store is not None and _last_store[0] == settings:
        return _last_store[1]
    return ModelStore(settings)


def _keep(settings: Any, store: Any) -> None:
    """Keep ``store`` for the next call; the old one goes before its models would load (one set in memory)."""
    global _last_store
    if _last_store is None or _last_store[1] is not store:
        _last_store = (settings, store)


def release() -> None:
    """Free the models :func:`edit` keeps loaded between calls, and the prompts' tokens kept beside them (which
    hold their tokenizers)."""
    global _last_store
    _last_store = None
    if "refedit.pipeline.segment.tokens" in sys.modules:  # loaded with the segmenters: nothing to free otherwise
        sys.modules["refedit.pipeline.segment.tokens"].forget()
