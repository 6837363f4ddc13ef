"""SAM 2 / 2.1 through transformers (``Sam2Model``) in SAM's slot of Grounded-SAM: the image embeddings once per
image, then box or point prompts, the same interface as :class:`~refedit.pipeline.segment.sam.Sam`.

transformers' SAM 2 image processor exists only with torchvision; :func:`preprocess` does its work with torch on
the model's device from the checkpoint's own processor config: resize to the square input (1024 x 1024, aspect not kept),
rescale, normalize with ImageNet's mean and std. Prompts are scaled to that square as ``Sam2Processor`` scales
them; the low-resolution masks go bilinearly to the image size and are thresholded at 0, as
``Sam2ImageProcessor.post_process_masks`` does (there is no padding to crop)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from refedit.pipeline.imagekeys import ImageKey, image_key
from refedit.pipeline.models import SAM_CLASSES, ModelStore
from refedit.pipeline.segment.pixels import above, clean_planes
from refedit.pipeline.segment.sam3 import Preprocessing, preprocess

#: Sam2ImageProcessor's defaults (ImageNet mean and std, 1024 x 1024)
SAM2_DEFAULTS = Preprocessing(1024, 1024, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def is_sam2(store: ModelStore) -> bool:
    """Whether the configured ``sam`` checkpoint is a SAM 2 one (by its config.json's ``model_type``)."""
    model_id = store.model_id("sam")
    if model_id.lower().endswith(".pth"):
        return False
    found = (store.config("sam", "config.json") or {}).get("model_type")
    return SAM_CLASSES.get(found) == "Sam2Model"


def sam2_preprocessing(config: dict[str, Any] | None) -> Preprocessing:
    """The checkpoint's SAM 2 preprocessing, SAM 2's defaults where it says nothing."""
    c = (config or {}).get("image_processor", config or {})
    size = c.get("size") or {}
    d = SAM2_DEFAULTS
    return Preprocessing(int(size.get("height", d.height)), int(size.get("width", d.width)),
                         tuple(c.get("image_mean", d.mean)), tuple(c.get("image_std", d.std)),
                         float(c.get("rescale_factor", d.rescale)))  # fmt: skip


class Sam2:
    """SAM 2 box and point prompting with the image embeddings computed once per image."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.embed_calls = 0
        self._key: ImageKey | None = None
        self._embeddings: Any = None

    def _preprocessing(self) -> Preprocessing:
        def make() -> Preprocessing:
            for name in ("processor_config.json", "preprocessor_config.json"):
                config = self.store.config("sam", name, required=False)
                if config:
                    return sam2_preprocessing(config)
            return SAM2_DEFAULTS

        return self.store.cached(("sam2-preprocessing", self.store.model_id("sam")), make)

    def set_image(self, image: Image.Image) -> None:
        """Compute (or reuse) the image embeddings of ``image``."""
        key = image_key(image)
        if self._key == key:
            return
        model = self.store.get("sam", "sam")
        pixels = preprocess(image, self._preprocessing(), self.store.device, self.store.dtype)
        with torch.inference_mode():
            self._embeddings = model.get_image_embeddings(pixels)
        self.embed_calls += 1
        self._key = key

    @torch.inference_mode()
    def _predict(self, image: Image.Image, *, boxes: Any = None, points: Any = None) -> list[np.ndarray]:
        """Masks for pixel-space prompts (boxes (n, 4); or points (k, 2) of one object, with at most one box),
        cleaned (:func:`~.pixels.clean_planes`)."""
        self.set_image(image)
        model = self.store.get("sam", "sam")
        how = self._preprocessing()
        w, h = image.size
        sx, sy = how.width / w, how.height / h
        dev, dt = self.store.device, self.store.dtype
        prompt: dict[str, torch.Tensor] = {}
        if boxes is not None:
            prompt["input_boxes"] = (torch.tensor(boxes, dtype=torch.float32) * torch.tensor([sx, sy, sx, sy]))[None].to(dev, dt)
        if points is not None:
            scaled = torch.tensor(points, dtype=torch.float32) * torch.tensor([sx, sy])
            prompt.update(input_points=scaled[None, None].to(dev, dt),
                          input_labels=torch.ones(1, 1, len(points), dtype=torch.long, device=dev))  # fmt: skip
        out = model(image_embeddings=self._embeddings, multimask_output=False, **prompt)
        low = clean_planes(out.pred_masks[0, :, 0].float(), 0.0)  # the clean-up on SAM 2's grid, not the photo's
        full = above(low, (h, w), 0.0)  # a few planes at a time on a large photo
        return list(full.cpu().numpy())

    def masks(self, image: Image.Image, boxes: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]:
        """One HxW bool mask per xyxy pixel box, cleaned."""
        return self._predict(image, boxes=list(boxes)) if boxes else []

    def mask_from_points(
        self, image: Image.Image, points: Sequence[tuple[float, float]], box: Sequence[float] | None = None
    ) -> np.ndarray:
        """One HxW bool mask of the object under the foreground ``points``, within the optional xyxy ``box``."""
        return self._predict(image, points=list(points), boxes=None if box is None else [list(box)])[0]
