"""Attribute filtering ("the green buses", "the orange cat"): re-score each candidate's crop with CLIP
against the attribute and its contrasts ("a photo of a green bus" vs "a red bus", ...), and keep the
candidates whose best-matching description is the asked one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
from PIL import Image

from refedit.pipeline.artifacts import Candidate, Target
from refedit.core import english

#: contrasts for attributes that are neither colours nor materials
GENERIC_CONTRASTS = ("plain", "ordinary")


class ImageTextScorer(Protocol):
    """What the attribute filter asks of a scorer: each candidate's crop, in the form it scores, and then the
    crops' probabilities against texts."""

    def crops(self, image: Image.Image, candidates: Sequence[Candidate]) -> list[Any]:
        """Each candidate's box crop, the pixels outside its mask greyed out (:func:`crops`)."""
        ...

    def probabilities(self, images: Sequence[Any], texts: Sequence[str]) -> np.ndarray:
        """(n_images, n_texts) probabilities, each row a softmax over ``texts``."""
        ...


class PilCrops:
    """:meth:`ImageTextScorer.crops` as PIL images (:func:`crops`), for a scorer that takes PIL images."""

    def crops(self, image: Image.Image, candidates: Sequence[Candidate]) -> list[Any]:
        return list(crops(image, candidates))


def contrast_prompts(attribute: str, head: str) -> list[str]:
    """The asked description first, then contrasting ones of the same kind (colours against colours), never of its
    own family (:data:`~refedit.core.english.COLOUR_FAMILIES`: "gray" is not contrasted with "grey", nor "navy" with
    "blue": the crop that is what was asked would lose to a synonym about half the time)."""
    if attribute in english.COLOURS:
        pool = [c for c in english.COLOUR_FAMILIES if c not in english.family(attribute, english.COLOUR_FAMILIES)]
    elif attribute in english.PATTERNS:
        pool = ["plain"]
    elif attribute in english.MATERIALS:
        pool = [m for m in english.MATERIAL_FAMILIES if m not in english.family(attribute, english.MATERIAL_FAMILIES)]
    else:
        pool = list(GENERIC_CONTRASTS)
    return [f"a photo of {english.with_article(f'{a} {head}')}" for a in [attribute, *pool]]


@dataclass(frozen=True)
class AttributeMatch:
    """Per candidate: the probability of the asked description and whether it is the best match."""

    probability: tuple[float, ...]
    matches: tuple[bool, ...]


def match_attributes(probs: Sequence[np.ndarray]) -> AttributeMatch:
    """Combine one (n, K) probability table per attribute (column 0 = the asked one): a candidate matches
    when the asked description is the most likely for every attribute; its probability is the product."""
    tables = [np.asarray(p, dtype=np.float64) for p in probs]
    prob = np.prod([t[:, 0] for t in tables], axis=0)
    ok = np.all([t.argmax(axis=1) == 0 for t in tables], axis=0)
    return AttributeMatch(tuple(float(p) for p in prob), tuple(bool(o) for o in ok))


def crops(image: Image.Image, candidates: Sequence[Candidate]) -> list[Image.Image]:
    """Each candidate's box crop, the pixels outside its mask (when known) greyed out."""
    out = []
    for c in candidates:
        box = tuple(int(round(v)) for v in c.box)
        crop = image.crop(box)
        if c.mask is not None:
            m = Image.fromarray(c.mask[box[1] : box[3], box[0] : box[2]].astype(np.uint8) * 255)
            grey = Image.new("RGB", crop.size, (128, 128, 128))
            crop = Image.composite(crop, grey, m) if m.size == crop.size else crop
        out.append(crop)
    return out


def score_attributes(
    scorer: ImageTextScorer, image: Image.Image, candidates: Sequence[Candidate], target: Target
) -> AttributeMatch:
    """CLIP-score every candidate against each of the target's attributes (with contrasts); the crops made once,
    by the scorer (:meth:`ClipScorer.crops`: on its device)."""
    images = scorer.crops(image, candidates)
    return match_attributes([scorer.probabilities(images, contrast_prompts(a, target.head)) for a in target.attributes])


class ClipScorer:
    """CLIP image-text probabilities through the shared ModelStore (role ``clip``)."""

    def __init__(self, store: object) -> None:
        self.store = store
        self.calls = 0

    def crops(self, image: Image.Image, candidates: Sequence[Candidate]) -> list[Any]:
        """:func:`crops` as (1, 3, h, w) uint8 tensors cut from the photo's copy on the model's device (the one the
        detector and SAM read): the same pixels, without a PIL crop, composite and upload per candidate."""
        import torch

        from refedit.pipeline.segment.pixels import uint8_image

        dev = self.store.device  # type: ignore[attr-defined]
        photo = uint8_image(image, dev)
        out = []
        for c in candidates:
            x0, y0, x1, y1 = (int(round(v)) for v in c.box)
            if not (0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height):  # PIL pads outside: its own crop
                out.append(uint8_image(crops(image, [c])[0], dev))
                continue
            crop = photo[..., y0:y1, x0:x1]
            if c.mask is not None:
                inside = torch.from_numpy(np.ascontiguousarray(c.mask[y0:y1, x0:x1])).to(dev)
                crop = crop.masked_fill(~inside, 128)  # grey outside the mask, as crops() composites
            out.append(crop)
        return out

    def probabilities(self, images: Sequence[Any], texts: Sequence[str]) -> np.ndarray:
        """``images``: PIL images, or (1, 3, h, w) uint8 tensors on the device (:meth:`crops`)."""
        import torch

        from refedit.pipeline.segment.pixels import clip_inputs, uint8_image, with_text

        model = self.store.get("clip", "clip")  # type: ignore[attr-defined]
        processor = self.store.get("clip", "processor")  # type: ignore[attr-defined]
        dev, dt = self.store.device, self.store.dtype  # type: ignore[attr-defined]
        pixels = clip_inputs(processor, [uint8_image(im, dev) if isinstance(im, Image.Image) else im for im in images], dt)
        if pixels is None:  # the processor's own recipe: it takes PIL images
            images = [im if isinstance(im, Image.Image) else Image.fromarray(im[0].permute(1, 2, 0).cpu().numpy()) for im in images]
        inputs = with_text(processor, None if pixels is None else {"pixel_values": pixels}, list(images), dev, dt,
                           text=list(texts), padding=True)  # fmt: skip
        with torch.inference_mode():
            logits = model(**inputs).logits_per_image.float()
        self.calls += 1
        return logits.softmax(dim=-1).cpu().numpy()
