"""Ref-Diff's Discriminative Process (Sec. 3.3): the positional bias P (Eq. 6) and CLIP's features of the
proposals, f_{M_i}(x) with the [CLS] attention restricted to M_i and f(x ⊙ M_i) of the masked crop (Eq. 7),
and of the text (r of Eq. 10, from the sentence and its ROOT word)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from PIL import Image

from refedit.core import masks as mask_ops
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.options import RefDiffOptions
from refedit.pipeline.segment.refdiff.timing import CallLog

Direction = Literal["left", "right", "top", "bottom"]
DIRECTIONS: tuple[str, ...] = ("left", "right", "top", "bottom")


def direction_of(words: Sequence[str]) -> Direction | None:
    """The first explicit direction clue (left/right/top/bottom; "upper"/"above" count as top, "lower"/
    "below"/"under" as bottom) among ``words``, or None; a hyphenated word's parts count ("left-most",
    "far-left"), as the official code's substring test finds them."""
    synonyms = {"upper": "top", "above": "top", "lower": "bottom", "below": "bottom", "under": "bottom",
                "leftmost": "left", "rightmost": "right", "topmost": "top", "bottommost": "bottom"}  # fmt: skip
    for w in (part for word in words for part in word.lower().split("-")):
        w = synonyms.get(w, w)
        if w in DIRECTIONS:
            return w  # type: ignore[return-value]
    return None


def positional_bias(shape: tuple[int, int], direction: str | None, *, extent: float = 1.0) -> np.ndarray:
    """Eq. 6's P (HxW float32): a soft mask falling linearly from 1 to 0 along the named axis, so the side
    the text names keeps its pixels and the opposite side is dimmed ("left": 1 at the left edge, 0 at the
    right edge). No (or an unknown) direction gives all ones.

    ``extent`` is the fraction of the axis the ramp spans, zeros beyond it: 1.0 is the paper's ramp over the
    whole axis; the official code uses 2/3 for left/right (``apply_position``) and no bias for top/bottom."""
    h, w = shape
    if direction not in DIRECTIONS:
        return np.ones(shape, dtype=np.float32)
    n = w if direction in ("left", "right") else h
    k = max(1, round(n * extent))
    ramp = np.concatenate([np.linspace(1.0, 0.0, k), np.zeros(n - k)]).astype(np.float32)
    if direction in ("right", "bottom"):
        ramp = ramp[::-1]
    if direction in ("left", "right"):
        return np.broadcast_to(ramp[None, :], shape).copy()
    return np.broadcast_to(ramp[:, None], shape).copy()


class ClipFeatures:
    """CLIP (role ``clip`` of the shared store) as Ref-Diff's discriminative model; every call is logged in
    ``timed``. All features are L2-normalised numpy arrays."""

    def __init__(self, store: ModelStore, options: RefDiffOptions, timed: CallLog) -> None:
        self.store, self.options, self.timed = store, options, timed

    def models(self) -> tuple[Any, Any]:
        """(CLIPModel, CLIPProcessor), loaded on first use."""
        return self.store.get("clip", "clip"), self.store.get("clip", "processor")

    def text(self, sentence: str, word: str) -> np.ndarray:
        """CLIP text features of the sentence and of the ROOT word, (2, d)."""
        import torch

        model, processor = self.models()
        ids = processor.tokenizer([sentence, word], padding=True, truncation=True, return_tensors="pt")
        ids = ids.to(self.store.device)
        with torch.inference_mode():
            out = self.timed("clip_text", (tuple(ids["input_ids"].shape),), lambda: model.get_text_features(**ids))
        feats = getattr(out, "pooler_output", out).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()

    def pixels(self, arrays: list[np.ndarray]) -> Any:
        """HxWx3 uint8 images as CLIP's normalised (B, 3, H, W) input, at their own size."""
        import torch

        ip = self.models()[1].image_processor
        mean = torch.tensor(ip.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(ip.image_std).view(1, 3, 1, 1)
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
        return ((x - mean) / std).to(self.store.device, self.store.dtype)

    def mask_tokens(self, pixels: Any, token_masks: Any | None) -> np.ndarray:
        """CLIP image features with [CLS] attention restricted to proposals (the f_{M_i} of Eq. 7).

        ``pixels`` (B, 3, H, W) normalised, H and W multiples of the patch size (position embeddings are
        interpolated); ``token_masks`` (B, N, gh·gw) bool. The [CLS] token is replaced by N copies, copy i
        attending only to itself and the patches of proposal i, patches attending only to patches (N copies
        of [CLS] must not change what the patches see) — in every layer, as the official ``get_clipsoft``. The
        copies' states after the penultimate layer (the paper: "the output of the penultimate layer") go through
        the post-LayerNorm and the projection. Returns (B, N, d).

        ``token_masks`` None: vanilla CLIP's [CLS] of the same layer, no attention masked (the f of Eq. 7's
        f(x ⊙ M_i), as the official ``get_cliphard``), (B, 1, d)."""
        import torch

        model = self.models()[0]
        vm = model.vision_model
        with torch.inference_mode():
            emb = vm.embeddings(pixels, interpolate_pos_encoding=True)  # (B, 1 + P, D)
            if token_masks is None:
                n, bias = 1, None
                x = vm.pre_layrnorm(emb)
            else:
                b, n, p = token_masks.shape
                assert emb.shape[1] == 1 + p, (emb.shape, p)
                x = vm.pre_layrnorm(torch.cat([emb[:, :1].expand(b, n, emb.shape[-1]), emb[:, 1:]], dim=1))
                allow = torch.zeros(b, n + p, n + p, dtype=torch.bool, device=x.device)
                allow[:, :n, :n] = torch.eye(n, dtype=torch.bool, device=x.device)
                allow[:, :n, n:] = token_masks.to(x.device)
                allow[:, n:, n:] = True
                bias = torch.zeros(allow.shape, dtype=x.dtype, device=x.device)
                bias = bias.masked_fill(~allow, torch.finfo(x.dtype).min)[:, None]
            layers = list(vm.encoder.layers)
            for layer in layers[:-1] if len(layers) > 1 else layers:
                x = layer(x, bias)
                x = x[0] if isinstance(x, tuple) else x
            tokens = model.visual_projection(vm.post_layernorm(x[:, :n]))
        return torch.nn.functional.normalize(tokens.float(), dim=-1).cpu().numpy()

    def grid(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """(patch, grid w, grid h) for encoding an image of ``size`` at CLIP's scale (long side ``clip_side``,
        default twice CLIP's input size, as the official code feeds CLIP more than 224 px)."""
        vc = self.models()[0].config.vision_config
        patch = int(vc.patch_size)
        side = self.options.clip_side or 2 * int(vc.image_size)
        w, h = size
        s = side / max(w, h)
        return patch, max(1, round(w * s / patch)), max(1, round(h * s / patch))

    def soft(self, image: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
        """f_{M_i}(image) for every proposal in one CLIP pass, (N, d)."""
        import torch
        import torch.nn.functional as F

        patch, gw, gh = self.grid((image.shape[1], image.shape[0]))
        arr = np.asarray(Image.fromarray(image).resize((gw * patch, gh * patch), Image.BICUBIC))
        cover = F.interpolate(torch.from_numpy(np.stack(masks).astype(np.float32))[:, None], size=(gh, gw),
                              mode="area")[:, 0]  # fmt: skip
        tm = cover >= 0.5
        empty = ~tm.flatten(1).any(dim=1)
        tm[empty] = cover[empty] > 0  # tiny proposals: every patch they touch
        pixels = self.pixels([arr])
        feats = self.timed("clip_image", (tuple(pixels.shape), len(masks)),
                           lambda: self.mask_tokens(pixels, tm.flatten(1)[None]))  # fmt: skip
        return feats[0]

    def hard(self, image: np.ndarray, proposals: list[np.ndarray]) -> np.ndarray:
        """f(image ⊙ M_i): each proposal's pixels (black elsewhere), cropped to its box, padded to a square,
        at CLIP's input size; vanilla CLIP's [CLS] feature of the same layer as :meth:`soft`. (N, d)."""
        vc = self.models()[0].config.vision_config
        size = int(vc.image_size)
        crops = []
        for m in proposals:
            x0, y0, x1, y1 = mask_ops.mask_box(m) or (0, 0, m.shape[1], m.shape[0])
            sub = image[y0:y1, x0:x1] * m[y0:y1, x0:x1, None]
            s = max(sub.shape[:2])
            sq = np.zeros((s, s, 3), dtype=np.uint8)
            oy, ox = (s - sub.shape[0]) // 2, (s - sub.shape[1]) // 2
            sq[oy : oy + sub.shape[0], ox : ox + sub.shape[1]] = sub
            crops.append(np.asarray(Image.fromarray(sq).resize((size, size), Image.BICUBIC)))
        out = []
        for s in range(0, len(crops), 32):
            pixels = self.pixels(crops[s : s + 32])
            out.append(self.timed("clip_image", (tuple(pixels.shape), 1),
                                  lambda pixels=pixels: self.mask_tokens(pixels, None))[:, 0])  # fmt: skip
        return np.concatenate(out)
