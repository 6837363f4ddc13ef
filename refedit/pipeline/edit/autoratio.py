"""``--auto-ratio``'s measure: CLIP directional similarity (Gal et al., StyleGAN-NADA; the metric of InstructEdit's
Table 1 and InstructPix2Pix): the cosine between the change of the image's CLIP embedding and the change of the
captions' CLIP embedding, cos(E_I(edited) − E_I(source), E_T(edited caption) − E_T(source caption)), here on the
edited region: the crop around the mask (the editor's working crop) of the input and of the pasted-back output,
with the ``clip`` role's model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from refedit.pipeline.artifacts import EditPlan


def directional_similarity(source_image: torch.Tensor, edited_images: torch.Tensor, source_text: torch.Tensor,
                           edited_text: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """cos(e_I' − e_I, e_T' − e_T) for each row of ``edited_images`` (N, D) against one source image embedding
    (D,) and the two caption embeddings (D,); the embeddings need not be normalised (they are, here)."""
    di = edited_images - source_image[None]
    dt = (edited_text - source_text)[None]
    return torch.nn.functional.cosine_similarity(di.float(), dt.float(), dim=-1)


class ClipDirection:
    """CLIP directional similarity through the shared ModelStore (role ``clip``): one CLIP forward per call."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls = 0

    def similarities(self, source: Image.Image, edited: Sequence[Image.Image], plan: EditPlan) -> list[float]:
        """The directional similarity of each edited region against ``source``, towards the plan's edited caption."""
        model = self.store.get("clip", "clip")
        processor = self.store.get("clip", "processor")
        inputs = processor(text=[plan.source_caption, plan.edited_caption], images=[source, *edited],
                           return_tensors="pt", padding=True)  # fmt: skip
        inputs = inputs.to(self.store.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.store.dtype)
        with torch.inference_mode():
            out = model(**inputs)
        self.calls += 1
        img, txt = out.image_embeds, out.text_embeds
        return [float(v) for v in directional_similarity(img[0], img[1:], txt[0], txt[1])]

    def mean_similarity(self, source: Image.Image, edited: Sequence[Image.Image], plan: EditPlan) -> float:
        """The mean directional similarity of several outputs of one ratio."""
        values = self.similarities(source, edited, plan)
        return sum(values) / len(values)
