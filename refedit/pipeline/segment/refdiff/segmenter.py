"""The Ref-Diff segmenter: the steps of the package in the paper's order (Fig. 1), for one image and plan.

1. :mod:`.geometry`: pad the image to a square (black, centred, as the official code), resize to ``resolution``;
2. :mod:`.root` + :mod:`.generative` (+ :mod:`.attention`): the ROOT token's cross-attention map c (Eq. 3-5);
3. :mod:`.proposals`: weight-free thresholds of c (Eq. 8), SAM's point grid, Grounded-SAM's detections;
4. :mod:`.scores` (+ :mod:`.discriminative`): s^G (Eq. 9), s^D from CLIP (Eq. 6, 7, 10), fused (Eq. 1) and the
   best proposal chosen (Eq. 2), or the official code's weighting (``fusion="official"``).

Every step is bounded by ``resolution``, whatever the input size. The SD components are the very ones the
DiffEdit editor uses: role ``sd`` through the shared ModelStore.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from refedit.core import masks
from refedit.errors import TargetNotFound
from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Segmentation
from refedit.pipeline.models import ModelStore
from refedit.pipeline.segment.options import RefDiffOptions
from refedit.pipeline.segment.refdiff import generative, proposals
from refedit.pipeline.segment.refdiff.discriminative import ClipFeatures
from refedit.pipeline.segment.refdiff.geometry import Square, square_input, to_image
from refedit.pipeline.segment.refdiff.root import root_word
from refedit.pipeline.segment.refdiff.scores import Scored, score
from refedit.pipeline.segment.refdiff.timing import CallLog


class RefDiffSegmenter:
    """Ref-Diff: SD cross-attention + CLIP over weight-free and/or SAM proposals."""

    #: it reads no --box/--point/--hint-mask: the pipeline refuses them (they changed nothing)
    takes_hints = False

    name = "refdiff"

    def __init__(self, store: ModelStore, options: RefDiffOptions | None = None, grounded: Any = None) -> None:
        """``grounded``: a Grounded-SAM segmenter whose detections become proposals too (``proposals="grounded"``
        or ``"all"``), so the resolver's candidates and Ref-Diff's scores combine; without one, the registry's
        ``grounded-sam`` with its defaults is built when first needed."""
        from refedit.pipeline.sd import StableDiffusion

        self.store = store
        self.grounded = grounded
        self.options = options or RefDiffOptions()
        self.sd = StableDiffusion(store, "sd")
        self.timed = CallLog(store)
        self.calls = self.timed.calls  #: model call kind -> count
        self.call_log = self.timed.log  #: (model, seconds, input shapes) of every model call
        self.clip = ClipFeatures(store, self.options, self.timed)

    # ------------------------------------------------------------------ generative process (Eq. 3-5)
    def _sd_input(self, image: Image.Image) -> tuple[Image.Image, Square]:
        return square_input(image, self.options.resolution, self.sd.size_multiple)

    def root(self, plan: EditPlan) -> tuple[str, str, int, int]:
        """(expression, ROOT word, its start and end characters) of the plan's target."""
        expression = (plan.target.expression or plan.instruction).strip()
        word, start, end = root_word(expression, plan.target.head)
        return expression, word, start, end

    def attention(self, image: Image.Image, plan: EditPlan) -> tuple[np.ndarray, Square, str]:
        """c (Eq. 5) at the working size (h, w) of the image inside the SD square, the square, the ROOT word."""
        expression, word, start, end = self.root(plan)
        canvas, sq = self._sd_input(image)
        c = generative.root_attention(self.sd, self.options, canvas, sq, expression, (start, end), self.timed)
        return c, sq, word

    def attention_heatmap(self, image: Image.Image, plan: EditPlan) -> np.ndarray:
        """The ROOT token's normalised cross-attention c (Eq. 5) as an HxW float32 array in [0, 1] at the
        image's size (for ``refedit segment --attention attn.png``; render with :func:`.overlay_heatmap`)."""
        c, _, _ = self.attention(image, plan)
        img = Image.fromarray(c.astype(np.float32), mode="F").resize(image.size, Image.BILINEAR)
        return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)

    # ------------------------------------------------------------------ proposals (Eq. 8, SAM, Grounded-SAM)
    def sam_proposals(self, work: Image.Image) -> list[np.ndarray]:
        """SAM's point-grid proposals on the working-size image (:func:`.proposals.sam_point_grid`)."""
        return proposals.sam_point_grid(self.store, self.options, work, self.timed)

    def proposals(self, c: np.ndarray, work: Image.Image, image: Image.Image | None = None,
                  plan: EditPlan | None = None) -> tuple[list[np.ndarray], list[str]]:  # fmt: skip
        """The working-size proposals the ``proposals`` option asks for, with the source of each."""
        opts = self.options
        out: list[np.ndarray] = []
        src: list[str] = []
        if opts.proposals in ("grounded", "all") and image is not None and plan is not None:
            if self.grounded is None:
                self.grounded = proposals.grounded_segmenter(self.store)
            ms = proposals.grounded_proposals(self.grounded, image, plan, work.size)
            out += ms
            src += ["grounded"] * len(ms)
        if opts.proposals in ("attention", "both", "all"):
            ms = proposals.weight_free_proposals(c, min_area=opts.min_area, max_area=opts.max_area)
            out += ms
            src += ["attention"] * len(ms)
        if opts.proposals in ("sam", "both", "all"):
            ms = self.sam_proposals(work)
            out += ms
            src += ["sam"] * len(ms)
        return out, src

    # ------------------------------------------------------------------ discriminative process (CLIP)
    def _clip(self) -> tuple[Any, Any]:
        return self.clip.models()

    def mask_tokens(self, pixels: Any, token_masks: Any) -> np.ndarray:
        """:meth:`.discriminative.ClipFeatures.mask_tokens` (f_{M_i} of Eq. 7)."""
        return self.clip.mask_tokens(pixels, token_masks)

    # ------------------------------------------------------------------ the stage
    def segment(self, *, image: Image.Image, plan: EditPlan, hints: Hints) -> Segmentation:
        """The referred object's mask: the best-scoring proposal (Eq. 2), at the image's size."""
        opts = self.options
        if plan.action == "global":
            return Segmentation(mask=np.ones((image.height, image.width), dtype=bool),
                                reason="global edit: the whole image", segmenter=self.name)  # fmt: skip
        expression = (plan.target.expression or plan.instruction).strip()
        c, sq, word = self.attention(image, plan)
        work = image.convert("RGB").resize(sq.work, Image.BICUBIC)
        props, src = self.proposals(c, work, image, plan)
        if not props:
            raise TargetNotFound(
                f"Ref-Diff found no proposal for '{expression}' within the area limits "
                f"[{opts.min_area}, {opts.max_area}]; try --proposals both or a lower --min-area"
            )
        scored = score(c, work, props, expression, word, opts, self.clip)
        best = scored.best
        cands = self._candidates(scored, best, props, c.shape, image, word)
        mask = masks.dilate(cands[0].mask, opts.dilate)  # type: ignore[arg-type]
        direction = f", direction '{scored.direction}'" if scored.direction else ""
        reason = (f"Ref-Diff: best of {len(props)} proposals (s={scored.fused[best]:.2f}; "
                  + scored.detail.format(g=scored.s_g[best], d=scored.s_d[best])
                  + f"; {src[best]} proposal; ROOT '{word}'{direction})")  # fmt: skip
        return Segmentation(mask=mask, candidates=tuple(cands), chosen=(0,), reason=reason, segmenter=self.name)

    def _candidates(self, scored: Scored, best: int, props: list[np.ndarray], work_hw: tuple[int, ...],
                    image: Image.Image, word: str) -> list[Candidate]:  # fmt: skip
        """The chosen proposal with its full-resolution mask, then up to ``max_candidates - 1`` runners-up by
        score with their boxes only (keeps large images cheap)."""
        order = [best] + [i for i in np.argsort(-scored.fused, kind="stable") if i != best][
            : self.options.max_candidates - 1
        ]
        sx, sy = image.width / work_hw[1], image.height / work_hw[0]
        cands = []
        for rank, i in enumerate(order):
            if rank == 0:
                m = to_image(props[i], image.size)
                box = masks.mask_box(m) or (0, 0, image.width, image.height)
            else:
                m = None
                x0, y0, x1, y1 = masks.mask_box(props[i]) or (0, 0, work_hw[1], work_hw[0])
                box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
            cands.append(Candidate(box, float(scored.fused[i]), word, m))
        return cands
