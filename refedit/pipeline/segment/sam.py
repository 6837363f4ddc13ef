"""SAM through transformers: one image embedding per image, then box or point prompts (SamPredictor's
set-once, predict-many)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from refedit.pipeline.imagekeys import ImageKey, image_key
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.pixels import FEW_PLANES, above, clean_planes, sam_inputs


#: below this many masks :func:`upscale_masks` puts them on the batch axis (see :data:`~.pixels.FEW_PLANES`)
FEW_MASKS = FEW_PLANES


def upscale_masks(low: torch.Tensor, padded: tuple[int, int], reshaped: tuple[int, int],
                  original: tuple[int, int], clean: bool = False) -> torch.Tensor:  # fmt: skip
    """SAM's mask post-processing (``postprocess_masks`` of segment-anything, ``post_process_masks`` of
    transformers): low-res logits (n, h, w) bilinearly up to the padded model input, the padding cropped
    away, bilinearly to the image size, thresholded at 0; (n, H, W) bool. With ``clean``, the logits are
    cleaned first (:func:`~.pixels.clean_planes`).

    Bit-identical to theirs, but the first upsampling only computes the rows and columns the crop keeps:
    it runs on the low-res rows/columns those depend on, with the same scale factor, so every kept output
    pixel reads the same two input rows and columns with the same weights (a landscape photo's padding is a
    third of the rows; the tiny test models' two thirds of both axes)."""
    (ph, pw), (rh, rw) = padded, reshaped
    lh, lw = low.shape[-2:]
    sy, sx = ph / lh, pw / lw
    ky, kx = min(lh, math.ceil(rh / sy) + 1), min(lw, math.ceil(rw / sx) + 1)
    if clean:  # on the cells the kept pixels read, the photo's area in cells for the specks' and holes' size
        low = clean_planes(low, 0.0, ky, kx, area=(rh / sy) * (rw / sx))

    def upsample(planes: torch.Tensor) -> torch.Tensor:
        # masks along the batch axis for a few (PyTorch's CPU kernel is 2-3x faster so for 1-8 masks), as channels
        # for many (then faster); the same formula per pixel either way (the kernels' rounding may differ by an ulp)
        few = planes.shape[0] < FEW_MASKS
        x = planes[:, None, :ky, :kx] if few else planes[None, :, :ky, :kx]
        up = F.interpolate(x, scale_factor=(sy, sx), mode="bilinear", align_corners=False)
        full = F.interpolate(up[..., :rh, :rw], original, mode="bilinear", align_corners=False)
        return full[:, 0] if few else full[0]

    return above(low, original, 0.0, upsample)  # a few masks at a time on a large photo


class Sam:
    """SAM box prompting with the image embedding computed once per image (set once, predict many)."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self.embed_calls = 0
        self._key: ImageKey | None = None
        self._state: tuple[torch.Tensor, tuple[int, int], tuple[int, int], tuple[int, int]] | None = None

    def set_image(self, image: Image.Image) -> None:
        """Compute (or reuse) the image embedding of ``image``."""
        key = image_key(image)
        if self._key == key:
            return
        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        made = sam_inputs(processor, image, self.store.device, self.store.dtype)
        if made is None:  # a recipe refedit does not reproduce: the processor's own
            inputs = processor.image_processor(images=image, return_tensors="pt")
            made = (inputs["pixel_values"].to(self.store.device, self.store.dtype),
                    tuple(inputs["original_sizes"][0].tolist()), tuple(inputs["reshaped_input_sizes"][0].tolist()))  # fmt: skip
        pixels, original, reshaped = made
        with torch.inference_mode():
            embedding = model.get_image_embeddings(pixels)
        self.embed_calls += 1
        self._key, self._state = key, (embedding, original, reshaped, (int(pixels.shape[-2]), int(pixels.shape[-1])))

    @torch.inference_mode()
    def _predict(self, image: Image.Image, *, boxes: Any = None, points: Any = None) -> list[np.ndarray]:
        """Decode masks for pixel-space prompts (boxes (n, 4), or foreground points (n, 2) of one object,
        or one box with points) against the cached embedding; full-resolution HxW bool masks, cleaned on SAM's
        low-res grid (:func:`~.pixels.clean_planes`)."""
        self.set_image(image)
        assert self._state is not None
        embedding, (oh, ow), (rh, rw), padded = self._state
        model = self.store.get("sam", "sam")
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
        full = upscale_masks(out.pred_masks[0, :, 0].float(), padded, (rh, rw), (oh, ow), clean=True)
        return list(full.cpu().numpy())  # upsampled on the device: only the boolean masks come back

    def masks(self, image: Image.Image, boxes: Sequence[tuple[float, float, float, float]]) -> list[np.ndarray]:
        """One HxW bool mask per xyxy pixel box, cleaned."""
        return self._predict(image, boxes=list(boxes)) if boxes else []

    def mask_from_points(
        self, image: Image.Image, points: Sequence[tuple[float, float]], box: Sequence[float] | None = None
    ) -> np.ndarray:
        """One HxW bool mask of the object under the (foreground) pixel ``points``, within the optional
        xyxy pixel ``box`` (one prompt with both)."""
        return self._predict(image, points=list(points), boxes=None if box is None else [list(box)])[0]
