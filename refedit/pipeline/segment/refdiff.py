"""Ref-Diff (Ni et al. 2023): zero-shot referring segmentation from Stable Diffusion's cross-attention
(generative) fused with CLIP (discriminative) over mask proposals.

Pipeline per image (every step bounded by ``resolution``, whatever the input size):

1. pad the image to a square (black, centred, as the official code), resize to ``resolution``;
2. encode with the shared SD VAE, noise to the ``t_index``-th of ``steps`` DDIM steps (Eq. 3), run the UNet
   with the referring expression for ``passes`` DDIM steps, capturing cross-attention at latent/4 (the
   coarsest cross-attention level when the UNet has no latent/4 one, e.g. the tiny test UNet);
3. take the ROOT token's map (the spaCy syntactic root of the expression, or its first noun when the root
   is not a noun; sub-word tokens averaged), resize, un-pad and min-max normalise it (Eq. 5) to c;
4. proposals: weight-free thresholds of c (Eq. 8) and/or SAM prompted with a grid of points;
5. s^G (Eq. 9), s^D from CLIP (Eq. 6, 7, 10), fused (Eq. 1) and the best proposal chosen (Eq. 2), or the
   official code's weighting (``fusion="official"``).

The SD components are the very ones the DiffEdit editor uses: role ``sd`` through the shared ModelStore.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from refedit.errors import BadInput, TargetNotFound
from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Segmentation
from refedit.pipeline.models import ModelStore
from refedit.core import masks
from refedit.pipeline.segment import refdiff_math as rm
from refedit.pipeline.segment.options import RefDiffOptions


@dataclass(frozen=True)
class Square:
    """Where the image sits in the padded square SD input: ``side`` pixels of the original per square side,
    ``offset`` (x, y) of the image in the square (original pixels), ``work`` (w, h): the image's size
    inside the ``resolution``-pixel square."""

    side: int
    offset: tuple[int, int]
    resolution: int
    work: tuple[int, int]

    @classmethod
    def of(cls, size: tuple[int, int], resolution: int) -> Square:
        w, h = size
        s = max(w, h)
        work = (max(1, round(w * resolution / s)), max(1, round(h * resolution / s)))
        return cls(s, ((s - w) // 2, (s - h) // 2), resolution, work)

    @property
    def work_offset(self) -> tuple[int, int]:
        return (
            (self.resolution - self.work[0]) // 2,
            (self.resolution - self.work[1]) // 2,
        )


@functools.lru_cache(maxsize=256)
def root_word(expression: str, head: str | None = None) -> tuple[str, int, int]:
    """The ROOT token of ``expression`` as (word, start, end) character offsets.

    The spaCy syntactic root when it is a noun (the paper's choice); else the root of the first noun chunk
    (spaCy makes "jumping" the root of "the black horse jumping"), else ``head`` where it occurs, else the
    last word. Without a spaCy model installed, ``head`` or the last word."""
    text = expression
    try:
        from refedit.pipeline.nlp import load_nlp

        doc = load_nlp()(text)
        root = next((t for t in doc if t.dep_ == "ROOT"), None)
        if root is not None and root.pos_ in ("NOUN", "PROPN"):
            return root.text, root.idx, root.idx + len(root.text)
        chunk = next(iter(doc.noun_chunks), None)
        if chunk is not None:
            r = chunk.root
            return r.text, r.idx, r.idx + len(r.text)
    except Exception:  # noqa: BLE001, S110 - no spaCy model: fall back to the parser's head noun
        pass
    if head:
        i = text.lower().find(head.lower())
        if i >= 0:
            return text[i : i + len(head)], i, i + len(head)
    words = text.split()
    if not words:
        raise BadInput("empty referring expression")
    last = words[-1]
    i = text.rfind(last)
    return last, i, i + len(last)


def token_indices(tokenizer: Any, text: str, start: int, end: int) -> list[int]:
    """Indices (in the padded, BOS-prefixed sequence the text encoder sees) of the tokens of the word at
    characters [start, end): re-tokenizing the prefixes before and through the word; a word split into
    sub-word tokens gives several indices (their maps are averaged)."""

    def count(s: str) -> int:
        return len(tokenizer(s, add_special_tokens=False).input_ids) if s.strip() else 0

    n0, n1 = count(text[:start]), count(text[:end])
    limit = (
        tokenizer.model_max_length - 1
    )  # the last position holds EOS after truncation
    idx = [1 + i for i in range(n0, max(n1, n0 + 1)) if 1 + i < limit]
    return idx or [min(n1, limit - 1)]


def overlay_heatmap(
    image: Image.Image, heat: np.ndarray, opacity: float = 0.5
) -> Image.Image:
    """``heat`` (HxW in [0, 1], the image's size) rendered as a blue→red colour map over ``image``."""
    h = np.clip(np.asarray(heat, dtype=np.float32), 0.0, 1.0)
    rgb = np.stack([np.clip(1.5 - np.abs(4 * h - k), 0, 1) for k in (3, 2, 1)], axis=-1)
    colour = Image.fromarray((rgb * 255).astype(np.uint8), mode="RGB")
    if colour.size != image.size:
        colour = colour.resize(image.size, Image.BILINEAR)
    return Image.blend(image.convert("RGB"), colour, opacity)


class RefDiffSegmenter:
    """Ref-Diff: SD cross-attention + CLIP over weight-free and/or SAM proposals."""

    name = "refdiff"

    def __init__(
        self, store: ModelStore, options: RefDiffOptions | None = None, grounded: Any = None
    ) -> None:
        """``grounded``: a Grounded-SAM segmenter whose detections become proposals too
        (``proposals="grounded"`` or ``"all"``), so the resolver's candidates and Ref-Diff's scores combine."""
        from refedit.pipeline.sd import StableDiffusion

        self.store = store
        self.grounded = grounded
        self.options = options or RefDiffOptions()
        self.sd = StableDiffusion(store, "sd")
        self.calls: dict[str, int] = {
            "vae": 0,
            "unet": 0,
            "sd_text": 0,
            "clip_text": 0,
            "clip_image": 0,
            "sam_embed": 0,
            "sam_decode": 0,
        }
        self.call_log: list[
            tuple[str, float, tuple[Any, ...]]
        ] = []  #: (kind, seconds, input shapes)

    # ------------------------------------------------------------------ timing
    def _timed(self, kind: str, shapes: tuple[Any, ...], fn: Any) -> Any:
        import torch

        sync = self.store.device.type == "cuda"
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if sync:
            torch.cuda.synchronize()
        self.calls[kind] += 1
        self.call_log.append((kind, time.perf_counter() - t0, shapes))
        return out

    # ------------------------------------------------------------------ generative (Eq. 3-5)
    def _sd_input(self, image: Image.Image) -> tuple[Image.Image, Square]:
        m = self.sd.size_multiple
        res = max(m, round(self.options.resolution / m) * m)
        sq = Square.of(image.size, res)
        work = image.convert("RGB").resize(
            sq.work, Image.BICUBIC
        )  # downscale first: bounded memory
        canvas = Image.new("RGB", (res, res), (0, 0, 0))
        canvas.paste(work, sq.work_offset)
        return canvas, sq

    def root(self, plan: EditPlan) -> tuple[str, str, int, int]:
        expression = (plan.target.expression or plan.instruction).strip()
        word, start, end = root_word(expression, plan.target.head)
        return expression, word, start, end

    def attention(
        self, image: Image.Image, plan: EditPlan
    ) -> tuple[np.ndarray, Square, str]:
        """c (Eq. 5) at the working size (h, w) of the image inside the SD square, the square, the ROOT word."""
        import torch
        import torch.nn.functional as F

        from refedit.core import ddim
        from refedit.core.noise import noise_like
        from refedit.pipeline.segment.attention import (
            capture_attention,
            normalize_attention,
        )

        opts = self.options
        expression, word, start, end = self.root(plan)
        canvas, sq = self._sd_input(image)
        unet = self.sd.unet
        tok = self.sd.component("tokenizer")
        idx = token_indices(tok, expression, start, end)

        z0 = self._timed(
            "vae", (tuple(canvas.size),), lambda: self.sd.encode_image(canvas)
        )
        prompts = ["", expression] if opts.guidance > 1.0 else [expression]
        text = self._timed("sd_text", (len(prompts),), lambda: self.sd.encode_text(prompts))
        keep: tuple[int, ...] | None = (1,) if opts.guidance > 1.0 else None
        sched = self.sd.ddim_schedule(opts.steps, opts.strength)
        x = ddim.noised(z0, noise_like(z0, opts.seed), sched.alphas[0])  # Eq. 3
        passes = opts.passes or opts.t_index
        wanted = self._wanted_level(unet, tuple(z0.shape[-2:]))
        with torch.inference_mode(), capture_attention(unet, wanted, keep=keep) as store:
            for k in range(passes):
                t = sched.timesteps[k]
                xin = torch.cat([x] * text.shape[0])
                eps = self._timed(
                    "unet",
                    (tuple(xin.shape), t),
                    lambda xin=xin, t=t: self.sd.eps(xin, t, text),
                )
                if text.shape[0] > 1:
                    eps = ddim.cfg(eps[:1], eps[1:], opts.guidance)
                if k + 1 < passes:
                    x = ddim.ddim_step(x, eps, sched.alphas[k], sched.alphas_prev[k])
        lh, lw = z0.shape[-2:]
        hw = self._level(store.resolutions, (lh, lw))
        maps = store.spatial(hw)[0]  # (L, h, w) of the conditional entry
        a_k = maps[idx].mean(dim=0)  # ROOT token, sub-words averaged
        up = F.interpolate(a_k[None, None].float(), size=(sq.resolution, sq.resolution), mode="bilinear",
                           align_corners=False)[0, 0]  # fmt: skip
        (ox, oy), (ww, wh) = sq.work_offset, sq.work
        crop = up[oy : oy + wh, ox : ox + ww]
        c = normalize_attention(crop, (wh, ww))  # Eq. 5 on the un-padded region
        return c.cpu().numpy(), sq, word

    def _wanted_level(self, unet: Any, latent_hw: tuple[int, int]) -> tuple[int, int] | None:
        """The one query resolution worth capturing (latent/``attention_level`` if the UNet has
        cross-attention there, else its coarsest cross-attention level), read from the UNet config;
        None (capture every level) when the config does not say."""
        blocks = getattr(unet.config, "down_block_types", None)
        if not blocks:
            return None
        lh, lw = latent_hw
        factors = [2**i for i, b in enumerate(blocks) if "CrossAttn" in b]
        if not factors:
            return None
        f = self.options.attention_level if self.options.attention_level in factors else max(factors)
        return (math.ceil(lh / f), math.ceil(lw / f))

    def _level(
        self, token_counts: tuple[int, ...], latent_hw: tuple[int, int]
    ) -> tuple[int, int]:
        """(h, w) of the attention level to use: latent/``attention_level`` when captured, else the coarsest."""
        if not token_counts:
            raise TargetNotFound(
                "the UNet has no cross-attention layers to read Ref-Diff's attention from"
            )
        lh, lw = latent_hw
        levels = {}
        f = 1
        while f <= max(lh, lw):
            h, w = math.ceil(lh / f), math.ceil(lw / f)
            levels.setdefault(h * w, (h, w))
            f *= 2
        want = levels.get(
            math.ceil(lh / self.options.attention_level)
            * math.ceil(lw / self.options.attention_level)
        )
        if want is not None and want[0] * want[1] in token_counts:
            return want
        coarsest = min(n for n in token_counts if n in levels)
        return levels[coarsest]

    def attention_heatmap(self, image: Image.Image, plan: EditPlan) -> np.ndarray:
        """The ROOT token's normalised cross-attention c (Eq. 5) as an HxW float32 array in [0, 1] at the
        image's size (for ``refedit segment --attention attn.png``; render with :func:`overlay_heatmap`)."""
        c, _, _ = self.attention(image, plan)
        img = Image.fromarray(c.astype(np.float32), mode="F").resize(
            image.size, Image.BILINEAR
        )
        return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)

    # ------------------------------------------------------------------ proposals (Eq. 8, SAM)
    def sam_proposals(self, work: Image.Image) -> list[np.ndarray]:
        """SAM prompted with a ``sam_grid``² grid of single foreground points on the working-size image
        (never the full-size input: memory is bounded by ``resolution``), three masks per point, filtered
        by area, deduplicated (IoU ≥ 0.9), best predicted IoU first."""
        import torch
        import torch.nn.functional as F

        model = self.store.get("sam", "sam")
        processor = self.store.get("sam", "processor")
        inputs = processor.image_processor(images=work, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.store.device, self.store.dtype)
        with torch.inference_mode():
            emb = self._timed(
                "sam_embed",
                (tuple(pixels.shape),),
                lambda: model.get_image_embeddings(pixels),
            )
        (oh, ow), (rh, rw) = (
            inputs["original_sizes"][0].tolist(),
            inputs["reshaped_input_sizes"][0].tolist(),
        )
        ph, pw = pixels.shape[-2:]
        g = self.options.sam_grid
        xs = (np.arange(g) + 0.5) / g * ow
        ys = (np.arange(g) + 0.5) / g * oh
        pts = np.array(
            [(x * rw / ow, y * rh / oh) for y in ys for x in xs], dtype=np.float32
        )
        found: list[tuple[float, np.ndarray]] = []
        lo, hi = self.options.min_area * oh * ow, self.options.max_area * oh * ow
        chunk = 64  # points per decoder call (SAM's generator uses 64 as well)
        for s in range(0, len(pts), chunk):
            p = torch.from_numpy(pts[s : s + chunk])[None, :, None, :].to(
                self.store.device, self.store.dtype
            )
            labels = torch.ones(p.shape[:3], dtype=torch.long, device=self.store.device)
            with torch.inference_mode():
                out = self._timed("sam_decode", (tuple(p.shape),), lambda p=p, labels=labels: model(
                    image_embeddings=emb, input_points=p, input_labels=labels, multimask_output=True))  # fmt: skip
            low = out.pred_masks[0].float()  # (n, 3, lh, lw) logits over the padded input
            n, k, lh, lw = low.shape
            scores = out.iou_scores[0].float().reshape(-1)
            confident = torch.nonzero(scores >= self.options.sam_iou_thresh).flatten()
            if confident.numel() == 0:  # filter on the predicted IoU before upsampling anything
                continue
            valid = low.reshape(n * k, 1, lh, lw)[confident][..., : math.ceil(lh * rh / ph), : math.ceil(lw * rw / pw)]
            logits = F.interpolate(valid, size=(oh, ow), mode="bilinear", align_corners=False)[:, 0]
            full = logits > 0
            area = full.reshape(len(confident), -1).sum(1)
            keep = (area >= lo) & (area <= hi) & (rm.stability_scores(logits) >= self.options.sam_stability_thresh)
            for j in torch.nonzero(keep).flatten().tolist():
                found.append((float(scores[confident[j]]), full[j].cpu().numpy()))
        found.sort(key=lambda t: -t[0])
        return rm.dedupe([m for _, m in found], 0.9)[: self.options.sam_max]

    def grounded_proposals(self, image: Image.Image, plan: EditPlan, work_size: tuple[int, int]) -> list[np.ndarray]:
        """Grounded-SAM's detections for the plan (masks from SAM, or boxes with ``box_mask``) at work size."""
        if self.grounded is None:
            from refedit.pipeline.segment.grounded_sam import GroundedSamOptions, GroundedSamSegmenter

            self.grounded = GroundedSamSegmenter(self.store, GroundedSamOptions())
        cands, _ = self.grounded.candidates(image, plan)
        if not cands:
            return []
        if self.grounded.options.box_mask:
            full = [masks.box_mask(c.box, (image.height, image.width)) for c in cands]
        else:
            full = self.grounded.sam.masks(image, [c.box for c in cands])
        return [np.asarray(Image.fromarray(m).resize(work_size, Image.NEAREST)) for m in full]

    def proposals(
        self, c: np.ndarray, work: Image.Image, image: Image.Image | None = None, plan: EditPlan | None = None
    ) -> tuple[list[np.ndarray], list[str]]:
        opts = self.options
        out: list[np.ndarray] = []
        src: list[str] = []
        if opts.proposals in ("grounded", "all") and image is not None and plan is not None:
            ms = self.grounded_proposals(image, plan, work.size)
            out += ms
            src += ["grounded"] * len(ms)
        if opts.proposals in ("attention", "both", "all"):
            ms = rm.weight_free_proposals(
                c, min_area=opts.min_area, max_area=opts.max_area
            )
            out += ms
            src += ["attention"] * len(ms)
        if opts.proposals in ("sam", "both", "all"):
            ms = self.sam_proposals(work)
            out += ms
            src += ["sam"] * len(ms)
        return out, src

    # ------------------------------------------------------------------ discriminative (Eq. 6, 7, 10)
    def _clip(self) -> tuple[Any, Any]:
        return self.store.get("clip", "clip"), self.store.get("clip", "processor")

    def text_features(self, sentence: str, word: str) -> np.ndarray:
        """L2-normalised CLIP text features of the sentence and of the ROOT word, (2, d)."""
        import torch

        model, processor = self._clip()
        ids = processor.tokenizer(
            [sentence, word], padding=True, truncation=True, return_tensors="pt"
        ).to(self.store.device)
        with torch.inference_mode():
            out = self._timed(
                "clip_text",
                (tuple(ids["input_ids"].shape),),
                lambda: model.get_text_features(**ids),
            )
        feats = getattr(out, "pooler_output", out).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()

    def _pixels(self, arrays: list[np.ndarray]) -> Any:
        import torch

        _, processor = self._clip()
        ip = processor.image_processor
        mean = torch.tensor(ip.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(ip.image_std).view(1, 3, 1, 1)
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
        return ((x - mean) / std).to(self.store.device, self.store.dtype)

    def mask_tokens(self, pixels: Any, token_masks: Any) -> np.ndarray:
        """CLIP image features with [CLS] attention restricted to proposals (the f_{M_i} of Eq. 7).

        ``pixels`` (B, 3, H, W) normalised, H and W multiples of the patch size (position embeddings are
        interpolated); ``token_masks`` (B, N, gh·gw) bool. The [CLS] token is replaced by N copies, copy i
        attending only to itself and the patches of proposal i, patches attending only to patches (so the
        patch stream is the unmasked one) — in every layer, as the official ``get_clipsoft``. The copies'
        states after the penultimate layer (the paper: "the output of the penultimate layer") go through
        the post-LayerNorm and the projection. Returns (B, N, d) L2-normalised."""
        import torch

        model, _ = self._clip()
        vm = model.vision_model
        b, n, p = token_masks.shape
        with torch.inference_mode():
            emb = vm.embeddings(pixels, interpolate_pos_encoding=True)  # (B, 1 + P, D)
            assert emb.shape[1] == 1 + p, (emb.shape, p)
            x = torch.cat([emb[:, :1].expand(b, n, emb.shape[-1]), emb[:, 1:]], dim=1)
            x = vm.pre_layrnorm(x)
            allow = torch.zeros(b, n + p, n + p, dtype=torch.bool, device=x.device)
            allow[:, :n, :n] = torch.eye(n, dtype=torch.bool, device=x.device)
            allow[:, :n, n:] = token_masks.to(x.device)
            allow[:, n:, n:] = True
            bias = torch.zeros(allow.shape, dtype=x.dtype, device=x.device).masked_fill(
                ~allow, torch.finfo(x.dtype).min
            )
            bias = bias[:, None]
            layers = list(vm.encoder.layers)
            layers = layers[:-1] if len(layers) > 1 else layers
            for layer in layers:
                x = layer(x, bias)
                x = x[0] if isinstance(x, tuple) else x
            tokens = model.visual_projection(vm.post_layernorm(x[:, :n]))
        return torch.nn.functional.normalize(tokens.float(), dim=-1).cpu().numpy()

    def _grid(self, size: tuple[int, int]) -> tuple[int, int, int]:
        """(patch, grid w, grid h) for encoding an image of ``size`` at CLIP's scale (long side ``clip_side``,
        default twice CLIP's input size, as the official code feeds CLIP more than 224 px)."""
        model, _ = self._clip()
        vc = model.config.vision_config
        patch = int(vc.patch_size)
        side = self.options.clip_side or 2 * int(vc.image_size)
        w, h = size
        s = side / max(w, h)
        return patch, max(1, round(w * s / patch)), max(1, round(h * s / patch))

    def soft_features(self, image: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
        """f_{M_i}(image) for every proposal in one CLIP pass, (N, d)."""
        import torch
        import torch.nn.functional as F

        patch, gw, gh = self._grid((image.shape[1], image.shape[0]))
        arr = np.asarray(
            Image.fromarray(image).resize((gw * patch, gh * patch), Image.BICUBIC)
        )
        m = torch.from_numpy(np.stack(masks).astype(np.float32))[:, None]
        cover = F.interpolate(m, size=(gh, gw), mode="area")[:, 0]
        tm = cover >= 0.5
        empty = ~tm.flatten(1).any(dim=1)
        tm[empty] = cover[empty] > 0  # tiny proposals: every patch they touch
        pixels = self._pixels([arr])
        feats = self._timed("clip_image", (tuple(pixels.shape), len(masks)),
                            lambda: self.mask_tokens(pixels, tm.flatten(1)[None]))  # fmt: skip
        return feats[0]

    def hard_features(self, image: np.ndarray, proposals: list[np.ndarray]) -> np.ndarray:
        """f(image ⊙ M_i): each proposal's pixels (black elsewhere), cropped to its box, padded to a square,
        at CLIP's input size; the [CLS] feature of the same layer as :meth:`soft_features`. (N, d)."""
        import torch

        model, _ = self._clip()
        vc = model.config.vision_config
        size, patch = int(vc.image_size), int(vc.patch_size)
        crops = []
        for m in proposals:
            x0, y0, x1, y1 = masks.mask_box(m) or (0, 0, m.shape[1], m.shape[0])
            sub = image[y0:y1, x0:x1] * m[y0:y1, x0:x1, None]
            s = max(sub.shape[:2])
            sq = np.zeros((s, s, 3), dtype=np.uint8)
            oy, ox = (s - sub.shape[0]) // 2, (s - sub.shape[1]) // 2
            sq[oy : oy + sub.shape[0], ox : ox + sub.shape[1]] = sub
            crops.append(
                np.asarray(Image.fromarray(sq).resize((size, size), Image.BICUBIC))
            )
        out = []
        g = (size // patch) ** 2
        for s in range(0, len(crops), 32):
            pixels = self._pixels(crops[s : s + 32])
            full = torch.ones(pixels.shape[0], 1, g, dtype=torch.bool)
            out.append(
                self._timed(
                    "clip_image",
                    (tuple(pixels.shape), 1),
                    lambda pixels=pixels, full=full: self.mask_tokens(pixels, full),
                )[:, 0]
            )
        return np.concatenate(out)

    # ------------------------------------------------------------------ the stage
    def segment(
        self, *, image: Image.Image, plan: EditPlan, hints: Hints
    ) -> Segmentation:
        """The referred object's mask: the best-scoring proposal (Eq. 2), at the image's size."""
        opts = self.options
        shape = (image.height, image.width)
        if plan.action == "global":
            return Segmentation(
                mask=np.ones(shape, dtype=bool),
                reason="global edit: the whole image",
                segmenter=self.name,
            )
        expression = (plan.target.expression or plan.instruction).strip()
        c, sq, word = self.attention(image, plan)
        work_img = image.convert("RGB").resize(sq.work, Image.BICUBIC)
        props, src = self.proposals(c, work_img, image, plan)
        if not props:
            raise TargetNotFound(
                f"Ref-Diff found no proposal for '{expression}' within the area limits "
                f"[{opts.min_area}, {opts.max_area}]; try --proposals both or a lower --min-area"
            )
        s_g = rm.generative_scores(c, props)
        t = self.text_features(expression, word)
        x = np.asarray(work_img, dtype=np.uint8)
        words = expression.replace(",", " ").split()
        direction = rm.direction_of(words)
        if opts.fusion == "paper":
            p = rm.positional_bias(c.shape, direction)
            xp = (x * p[..., None]).astype(np.uint8)
            soft = (
                self.soft_features(xp, props)
                if opts.beta > 0
                else np.zeros((len(props), t.shape[1]))
            )
            hard = (
                self.hard_features(x, props) if opts.beta < 1 else np.zeros_like(soft)
            )
            v = (
                rm.visual_features(soft, hard, opts.beta)
                if 0 < opts.beta < 1
                else (soft if opts.beta else hard)
            )
            s_d = rm.discriminative_scores(v, rm.text_feature(t[0], t[1]))
            scores = rm.fuse(s_g, s_d, opts.alpha)
            valid = None
            detail = (
                f"s^G={{g:.2f}}, s^D={{d:.2f}}, alpha={opts.alpha}, beta={opts.beta}"
            )
        else:
            p = rm.positional_bias(
                c.shape,
                direction if direction in ("left", "right") else None,
                extent=2 / 3,
            )
            xp = (x * p[..., None]).astype(np.uint8)
            hard = self.hard_features(xp, props)
            soft = self.soft_features(x, props)
            s_hard = hard @ t[0]
            s_soft = soft @ (0.5 * t[0] + 0.5 * t[1])
            s_d = s_hard  # for the reason line
            scores = rm.fuse_official(s_hard, s_soft, s_g)
            areas = np.array([m.sum() for m in props])
            valid = np.zeros(len(props), dtype=bool)
            valid[np.argsort(-areas, kind="stable")[:10]] = (
                True  # the official top-10 largest
            )
            detail = "s^G={g:.2f}, hard={d:.2f}, official 0.7/0.3/0.05 weights"
        best = rm.select(scores, valid)
        order = [best] + [i for i in np.argsort(-scores, kind="stable") if i != best][
            : opts.max_candidates - 1
        ]
        cands = []
        sx, sy = image.width / c.shape[1], image.height / c.shape[0]
        for rank, i in enumerate(order):
            if rank == 0:  # the chosen proposal at full resolution; the runners-up keep their box only
                m = self._to_image(props[i], image.size)
                box = masks.mask_box(m) or (0, 0, image.width, image.height)
            else:
                m = None
                x0, y0, x1, y1 = masks.mask_box(props[i]) or (0, 0, c.shape[1], c.shape[0])
                box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
            cands.append(Candidate(box, float(scores[i]), word, m))
        mask = masks.dilate(cands[0].mask, opts.dilate)  # type: ignore[arg-type]
        reason = (f"Ref-Diff: best of {len(props)} proposals (s={scores[best]:.2f}; "
                  + detail.format(g=s_g[best], d=s_d[best]) + f"; {src[best]} proposal; ROOT '{word}'"
                  + (f", direction '{direction}'" if direction else "") + ")")  # fmt: skip
        return Segmentation(
            mask=mask,
            candidates=tuple(cands),
            chosen=(0,),
            reason=reason,
            segmenter=self.name,
        )

    @staticmethod
    def _to_image(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A working-size bool mask brought to the image's (W, H) size (pixel-centre sampling)."""
        if (mask.shape[1], mask.shape[0]) == size:
            return mask.copy()
        w, h = size
        rows = np.minimum(((np.arange(h) + 0.5) * mask.shape[0] / h).astype(np.intp), mask.shape[0] - 1)
        cols = np.minimum(((np.arange(w) + 0.5) * mask.shape[1] / w).astype(np.intp), mask.shape[1] - 1)
        return mask[rows[:, None], cols[None, :]]
