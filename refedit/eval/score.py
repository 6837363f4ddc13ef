"""Score an edited image against its sample: every figure the sample's fields allow, each named as its paper
names it (see :mod:`refedit.eval.metrics`).

=================  ====================================================================  ========================
figure             what                                                                  needs
=================  ====================================================================  ========================
psnr_bg, mse_bg,   PIE-Bench's background preservation: both images x (1 - mask), then   mask
ssim_bg, lpips_bg  the whole-image figure (PnP-Inversion evaluation code)
l2_bg              ReferDiffusion's L2_bg: mean squared difference over background pixels  mask
ssim_m, ssim_m_bar iEdit's SSIM-M / SSIM-M̄: the SSIM map averaged inside / outside          mask
clip_score         CLIP score of the edited image and the edited caption (PIE-Bench       edited caption
                   "whole"; InstructEdit's scale, its text is the instruction)
clip_score_edit    CLIP score of the edited image x mask and the edited caption           mask, edited caption
                   (PIE-Bench "edited")
clip_dir           CLIP directional similarity (InstructEdit Table 1)                    both captions
clip_sim_fg        ReferDiffusion's CLIP-Sim_fg: CLIP score of the edited image x mask     mask, fg text or edited
                   and the foreground text                                               caption
lpips              LPIPS of the source and the edited image (InstructEdit Table 1)       --
clip_i, dino, l1   MagicBrush / Emu Edit: cosine of CLIP / DINO features, mean absolute  target image
                   difference, edited vs target
clip_t             MagicBrush's CLIP-T: cosine of the edited image and the target caption  target caption
=================  ====================================================================  ========================

An edited image of another size than its source is resized to it (Lanczos) first; so is a target image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from refedit.errors import BadInput
from refedit.eval.samples import Sample

GROUPS: Mapping[str, tuple[str, ...]] = {
    "pixels": ("psnr_bg", "mse_bg", "ssim_bg", "l2_bg", "ssim_m", "ssim_m_bar", "l1"),
    "lpips": ("lpips", "lpips_bg"),
    "clip": ("clip_score", "clip_score_edit", "clip_dir", "clip_sim_fg", "clip_i", "clip_t"),
    "dino": ("dino",),
}
ALL_METRICS: tuple[str, ...] = tuple(m for ms in GROUPS.values() for m in ms)
#: what a sample must hold for each figure (none: every sample), for the warning when no sample had it
NEEDS: Mapping[str, str] = {
    **{m: "a ground-truth mask" for m in ("psnr_bg", "mse_bg", "ssim_bg", "lpips_bg", "l2_bg", "ssim_m", "ssim_m_bar")},
    "clip_score": "an edited caption", "clip_score_edit": "a ground-truth mask and an edited caption",
    "clip_sim_fg": "a ground-truth mask and an edited caption", "clip_dir": "source and edited captions",
    **{m: "a target image" for m in ("l1", "clip_i", "dino")}, "clip_t": "a target image and its caption",
}  # fmt: skip
#: the model role each group loads
ROLES: Mapping[str, str] = {"lpips": "lpips", "clip": "clipscore", "dino": "dino"}


def parse_metrics(text: str) -> tuple[str, ...]:
    """``all``, or a comma-separated list of figure names and groups (pixels, lpips, clip, dino)."""
    chosen: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "all":
            chosen += ALL_METRICS
        elif part in GROUPS:
            chosen += GROUPS[part]
        elif part in ALL_METRICS:
            chosen.append(part)
        else:
            from refedit.config import close_matches

            raise BadInput(f"unknown metric {part!r}{close_matches(part, [*GROUPS, *ALL_METRICS])}; use all, a group "
                           f"({', '.join(GROUPS)}) or figure names")  # fmt: skip
    return tuple(dict.fromkeys(chosen))


def roles_for(metrics: Iterable[str]) -> list[str]:
    """The model roles the chosen figures load."""
    wanted = set(metrics)
    return [ROLES[g] for g in ("clip", "dino", "lpips") if wanted & set(GROUPS[g])]


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` (HxWx3 uint8) at ``size`` (W, H), Lanczos-resized when it differs."""
    from PIL import Image

    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


@dataclass
class Scorer:
    """Computes the chosen figures with the metric models of ``store`` (loaded on first use)."""

    store: Any
    metrics: tuple[str, ...] = ALL_METRICS
    judge: Any = None
    _clip: Any = field(default=None, repr=False)
    _dino: Any = field(default=None, repr=False)
    _lpips: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from refedit.eval.models import ClipEncoder, DinoEncoder, LpipsDistance

        self._clip, self._dino, self._lpips = ClipEncoder(self.store), DinoEncoder(self.store), LpipsDistance(self.store)

    def score(self, sample: Sample, source: np.ndarray, edited: np.ndarray) -> dict[str, Any]:
        """The figures for one edit (HxWx3 uint8 arrays); figures a sample lacks the fields for are left out."""
        size = (source.shape[1], source.shape[0])
        out: dict[str, Any] = {}
        if (edited.shape[1], edited.shape[0]) != size:
            out["resized_from"] = [edited.shape[1], edited.shape[0]]
            edited = fit(edited, size)
        mask = sample.truth(size)
        if mask is not None:
            out.update(self._background(source, edited, mask))
        out.update(self._faithfulness(sample, source, edited, mask))
        if sample.target is not None:
            out.update(self._against_target(sample, edited, size))
        if self.judge is not None:
            out.update(self.judge.assess(source, edited, sample.text))
        return out

    def want(self, name: str) -> bool:
        return name in self.metrics

    def _background(self, source: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> dict[str, float]:
        from refedit.eval.metrics import pixels as px

        bg = ~mask
        if not bg.any():  # the object is the whole image: no background to preserve, so no figure of it (not a
            return {"ssim_m": px.ssim_region(source, edited, mask)} if self.want("ssim_m") else {}  # perfect one)
        src_bg, edit_bg = px.masked(source, bg), px.masked(edited, bg)
        figs = {
            "psnr_bg": lambda: px.psnr(src_bg, edit_bg),
            "mse_bg": lambda: px.mse(src_bg, edit_bg),
            "ssim_bg": lambda: px.ssim(src_bg, edit_bg),
            "lpips_bg": lambda: self._lpips(src_bg, edit_bg),
            "l2_bg": lambda: px.l2_region(source, edited, bg),
            "ssim_m": lambda: px.ssim_region(source, edited, mask),
            "ssim_m_bar": lambda: px.ssim_region(source, edited, bg),
        }
        return {k: f() for k, f in figs.items() if self.want(k)}

    def _faithfulness(self, sample: Sample, source: np.ndarray, edited: np.ndarray,
                      mask: np.ndarray | None) -> dict[str, float]:  # fmt: skip
        from refedit.eval.metrics import embedding as emb
        from refedit.eval.metrics import pixels as px

        out: dict[str, float] = {}
        cap = sample.edited_caption
        region = px.masked(edited, mask) if mask is not None else None
        feats: dict[Any, Any] = {}

        def image(key: str, img: np.ndarray) -> Any:  # each image and caption encoded once per sample
            if key not in feats:
                feats[key] = self._clip.image(img)
            return feats[key]

        def text(caption: str) -> Any:
            if ("text", caption) not in feats:
                feats[("text", caption)] = self._clip.text(caption)
            return feats[("text", caption)]

        if cap and self.want("clip_score"):
            out["clip_score"] = emb.clip_score(image("edited", edited), text(cap))
        if cap and region is not None and self.want("clip_score_edit"):
            out["clip_score_edit"] = emb.clip_score(image("region", region), text(cap))
        fg = sample.fg_text or cap
        if fg and region is not None and self.want("clip_sim_fg"):
            out["clip_sim_fg"] = emb.clip_score(image("region", region), text(fg))
        if cap and sample.source_caption and self.want("clip_dir"):
            out["clip_dir"] = emb.directional_similarity(image("source", source), image("edited", edited),
                                                         text(sample.source_caption), text(cap))  # fmt: skip
        if self.want("lpips"):
            out["lpips"] = self._lpips(source, edited)
        return out

    def _against_target(self, sample: Sample, edited: np.ndarray, size: tuple[int, int]) -> dict[str, float]:
        from refedit.eval.metrics import embedding as emb
        from refedit.eval.metrics import pixels as px
        from refedit.pipeline.imageio import load_image

        assert sample.target is not None
        target = fit(np.asarray(load_image(sample.target, what="target image").rgb), size)
        out: dict[str, float] = {}
        if self.want("l1"):
            out["l1"] = px.l1(edited, target)
        if self.want("clip_i"):
            out["clip_i"] = emb.cosine(self._clip.image(edited), self._clip.image(target))
        if sample.target_caption and self.want("clip_t"):
            out["clip_t"] = emb.cosine(self._clip.image(edited), self._clip.text(sample.target_caption))
        if self.want("dino"):
            out["dino"] = emb.cosine(self._dino.image(edited), self._dino.image(target))
        return out
