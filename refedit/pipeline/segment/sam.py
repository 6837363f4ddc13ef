"""SAM through transformers: one image embedding per image, then box or point prompts (SamPredictor's
set-once, predict-many)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from refedit.pipeline.models import ModelStore


class Sam:
    """SAM box prompting with the image embedding computed once per image (set once, predict many)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.embed_calls = 0
        self._key: tuple[int, bytes] | None = None
        self._state: tuple[torch.Tensor, Any] | None = None

    def set_image(self, image: Image.Image) -> None:
        """Compute (or reuse) the image embedding of ``image``."""
        key = (hash(image.tobytes()), image.size)
        if self._key == key:
            return
        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        inputs = processor.image_processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.store.device, self.store.dtype)
        with torch.inference_mode():
            embedding = model.get_image_embeddings(pixels)
        self.embed_calls += 1
        self._key, self._state = key, (embedding, inputs)

    @torch.inference_mode()
    def _predict(self, image: Image.Image, *, boxes: Any = None, points: Any = None) -> list[np.ndarray]:
        """Decode masks for pixel-space prompts (boxes (n, 4), or foreground points (n, 2) of one object,
        or one box with points) against the cached embedding; full-resolution HxW bool masks."""
        self.set_image(image)
        assert self._state is not None
        embedding, inputs = self._state
        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        (oh, ow), (rh, rw) = inputs["original_sizes"][0].tolist(), inputs["reshaped_input_sizes"][0].tolist()
        dev, dt = self.store.device, self.store.dtype
        prompt: dict[str, torch.Tensor] = {}
        if boxes is not None:
            scaled = torch.tensor(boxes, dtype=torch.float32) * torch.tensor([rw / ow, rh / oh, rw / ow, rh / oh])
            prompt["input_boxes"] = scaled[None].to(dev, dt)
        if points is not None:
            scaled = torch.tensor(points, dtype=torch.float32) * torch.tensor([rw / ow, rh / oh])
            prompt.update(input_points=scaled[None, None].to(dev, dt),
                          input_labels=torch.ones(1, 1, len(points), dtype=torch.long, device=dev))  # fmt: skip
        out = model(image_embeddings=embedding, multimask_output=False, **prompt)
        full = processor.post_process_masks(  # upsampled on the device: only the boolean masks come back
            out.pred_masks.float(), inputs["original_sizes"], inputs["reshaped_input_sizes"]
        )[0]
        return [m[0].cpu().numpy().astype(bool) for m in full]

    def masks(self, image: Image.Image, boxes: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]:
        """One HxW bool mask per xyxy pixel box."""
        return self._predict(image, boxes=list(boxes)) if boxes else []

    def mask_from_points(
        self, image: Image.Image, points: Sequence[tuple[float, float]], box: Sequence[float] | None = None
    ) -> np.ndarray:
        """One HxW bool mask of the object under the (foreground) pixel ``points``, within the optional
        xyxy pixel ``box`` (one prompt with both)."""
        return self._predict(image, points=list(points), boxes=None if box is None else [list(box)])[0]
