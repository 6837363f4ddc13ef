"""SAM from the original ``segment-anything`` package, for ``.pth`` checkpoints (e.g. sam_vit_h_4b8939.pth).

:class:`SamOriginal` has the interface of :class:`refedit.pipeline.segment.sam.Sam` (``set_image``,
``masks``, ``embed_calls``); :func:`sam_backend` picks one of the two from the configured SAM model id.
``segment_anything`` (and with it torch) is imported only when a :class:`SamOriginal` is made, and the
checkpoint loads on first use. Note segment-anything imports torchvision without declaring it.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from refedit.core.masks import clean
from refedit.errors import ModelUnavailable
from refedit.pipeline.imagekeys import ImageKey, image_key

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.sam import Sam

MODEL_TYPES = ("vit_h", "vit_l", "vit_b")
_TYPE_IN_NAME = re.compile(r"vit[_-]?([hlb])(?![a-z])", re.IGNORECASE)
#: what torch.load of a corrupt/truncated file and load_state_dict of another architecture raise
_LOAD_ERRORS = (OSError, EOFError, RuntimeError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile)
_INSTALL = "the .pth SAM backend needs the segment-anything package: pip install segment-anything"


def model_type_from_name(path: str | Path) -> str | None:
    """``vit_h``/``vit_l``/``vit_b`` when the file name says so (sam_vit_h_4b8939.pth -> vit_h), else None."""
    found = _TYPE_IN_NAME.search(Path(path).name)
    return f"vit_{found.group(1).lower()}" if found else None


def _import_segment_anything() -> Any:
    try:
        import segment_anything
    except ImportError as err:
        missing = (getattr(err, "name", None) or "").split(".")[0]
        if missing and missing != "segment_anything":
            raise ModelUnavailable(
                f"the .pth SAM backend needs {missing}, which segment-anything imports: pip install {missing} "
                "(the build matching your torch)"
            ) from err
        raise ModelUnavailable(_INSTALL) from err
    return segment_anything


def _first_line(err: BaseException, limit: int = 160) -> str:
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


class SamOriginal:
    """SAM box prompting through ``segment_anything.SamPredictor``, one image embedding per image.

    ``checkpoint`` is a ``.pth`` state dict of the original release; ``model_type`` (vit_h, vit_l, vit_b) is
    read from the file name when not given. ``builder(checkpoint_path) -> nn.Module`` builds the model and
    loads the weights (default: ``segment_anything.sam_model_registry[model_type]``). ``cache(key, make)``,
    e.g. :meth:`ModelStore.cached`, shares the loaded model between instances. The model loads on first use
    (or :meth:`load`); a missing package or file fails at construction.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        model_type: str | None = None,
        device: str = "cpu",
        *,
        builder: Callable[[str], "nn.Module"] | None = None,
        cache: Callable[[tuple[Any, ...], Callable[[], Any]], Any] | None = None,
    ) -> None:
        self.checkpoint = Path(checkpoint).expanduser()
        self.device = str(device)
        self.model_type = model_type or model_type_from_name(self.checkpoint)
        if builder is None and self.model_type is None:
            raise ModelUnavailable(
                f"cannot tell the SAM model type of {str(self.checkpoint)!r} from its name; name the file after "
                f"its type (e.g. sam_vit_h_4b8939.pth) or pass one of {', '.join(MODEL_TYPES)}"
            )
        if builder is None and self.model_type not in MODEL_TYPES:
            raise ModelUnavailable(f"unknown SAM model type {self.model_type!r}; use one of {', '.join(MODEL_TYPES)}")
        if not self.checkpoint.is_file():
            raise ModelUnavailable(f"SAM checkpoint {str(self.checkpoint)!r} does not exist or is not a file")
        self._sa = _import_segment_anything()
        self._builder = builder
        self._cache = cache
        self._predictor: Any = None
        self.embed_calls = 0
        self._key: ImageKey | None = None

    def _build(self) -> "nn.Module":
        builder = self._builder or self._sa.sam_model_registry[self.model_type]
        try:
            model = builder(str(self.checkpoint))
        except _LOAD_ERRORS as err:
            hint = f" (is it a SAM {self.model_type} checkpoint?)" if self.model_type else ""
            raise ModelUnavailable(
                f"cannot load the SAM checkpoint {str(self.checkpoint)!r}{hint}: {_first_line(err)}"
            ) from err
        return model.to(self.device).eval().requires_grad_(False)

    def load(self) -> Any:
        """The ``SamPredictor`` (loading the model on first call)."""
        if self._predictor is None:
            key = ("sam-original", str(self.checkpoint.resolve()), self.model_type, self.device)
            model = self._cache(key, self._build) if self._cache else self._build()
            self._predictor = self._sa.SamPredictor(model)
        return self._predictor

    def set_image(self, image: Image.Image) -> None:
        """Compute (or reuse) the image embedding of ``image``."""
        rgb = image.convert("RGB")
        key = image_key(rgb)
        if self._key == key:
            return
        predictor = self.load()
        self._key = None
        predictor.set_image(np.asarray(rgb), image_format="RGB")
        self.embed_calls += 1
        self._key = key

    def masks(self, image: Image.Image, boxes: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]:
        """One HxW bool mask per xyxy pixel box (of ``image``'s own size), cleaned at the photo's resolution (the
        package's predictor upsamples its masks itself)."""
        if not boxes:
            return []
        import torch

        self.set_image(image)
        predictor = self.load()
        box_t = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4), device=predictor.device)
        box_t = predictor.transform.apply_boxes_torch(box_t, predictor.original_size)
        with torch.no_grad():
            masks, _, _ = predictor.predict_torch(None, None, boxes=box_t, multimask_output=False)
        return [clean(m[0].cpu().numpy().astype(bool)) for m in masks]

    def mask_from_points(
        self, image: Image.Image, points: Sequence[tuple[float, float]], box: Sequence[float] | None = None
    ) -> np.ndarray:
        """One HxW bool mask of the object under the (foreground) pixel ``points``, within the optional
        xyxy pixel ``box`` (one prompt with both)."""
        self.set_image(image)
        masks, _, _ = self.load().predict(point_coords=np.asarray(points, dtype=np.float32),
                                          point_labels=np.ones(len(points), dtype=np.int64),
                                          box=None if box is None else np.asarray(box, dtype=np.float32),
                                          multimask_output=False)  # fmt: skip
        return clean(masks[0].astype(bool))


def sam_backend(store: "ModelStore") -> "Sam | SamOriginal":
    """:class:`SamOriginal` when the configured SAM model is a ``.pth`` file, else the transformers ``Sam``."""
    model_id = store.model_id("sam")
    if model_id.lower().endswith(".pth"):
        return SamOriginal(model_id, device=str(store.device), cache=store.cached)
    from refedit.pipeline.segment.sam import Sam

    return Sam(store)
