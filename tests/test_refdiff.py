"""Ref-Diff: the pure scoring math (Eq. 1-2, 6-10) on hand-made arrays, and the segmenter end to end on the
tiny SD + SAM + CLIP."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from refedit.errors import BadInput
from refedit.pipeline.artifacts import EditPlan, Hints, Target
from refedit.pipeline.segment import refdiff as rm

from .hooks import UNetCall, ddim_timesteps, record_unet_calls


# --------------------------------------------------------------------------- math
def _hot() -> np.ndarray:
    c = np.zeros((20, 30), dtype=np.float32)
    c[5:12, 3:10] = 1.0  # the referred object
    c[14:18, 20:28] = 0.3  # a weaker distractor
    return c


def _box(
    y0: int, y1: int, x0: int, x1: int, shape: tuple[int, int] = (20, 30)
) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def test_generative_score_prefers_the_hot_region() -> None:
    c = _hot()
    props = [
        _box(5, 12, 3, 10),
        _box(14, 18, 20, 28),
        _box(0, 20, 0, 30) & ~_box(5, 12, 3, 10),
        _box(0, 20, 0, 15),
    ]
    s = rm.generative_scores(c, props)
    assert int(np.argmax(s)) == 0
    assert s[0] == pytest.approx(1.0 - (0.3 * 32) / (600 - 49))  # Eq. 9 by hand
    assert s[2] < 0  # the complement of the object scores below zero


def test_weight_free_proposals_eq8() -> None:
    c = _hot()
    props = rm.weight_free_proposals(c)
    # thresholds 5%..30% give object ∪ distractor, 35%..95% the object alone: two distinct masks
    assert len(props) == 2
    assert any(np.array_equal(p, _box(5, 12, 3, 10)) for p in props)
    small = rm.weight_free_proposals(
        c, max_area=0.09
    )  # only the object (49 px of 600) fits
    assert len(small) == 1 and np.array_equal(small[0], _box(5, 12, 3, 10))
    assert rm.weight_free_proposals(np.zeros((4, 4))) == []
    assert (
        len(rm.PAPER_THRESHOLDS) == 19
        and rm.PAPER_THRESHOLDS[0] == 0.05
        and rm.PAPER_THRESHOLDS[-1] == 0.95
    )


def test_positional_bias_left_ramps_the_right_side_down() -> None:
    p = rm.positional_bias((4, 11), "left")
    assert p.shape == (4, 11)
    assert np.allclose(p[:, 0], 1.0) and np.allclose(p[:, -1], 0.0)
    assert np.all(np.diff(p[0]) < 0)  # monotonically falling to the right
    r = rm.positional_bias((4, 11), "right")
    assert np.allclose(r, p[:, ::-1])
    top = rm.positional_bias((5, 3), "top")
    assert np.allclose(top[0], 1.0) and np.allclose(top[-1], 0.0)
    assert np.all(rm.positional_bias((3, 3), None) == 1.0)
    official = rm.positional_bias((1, 9), "left", extent=2 / 3)
    assert np.allclose(official[0, 6:], 0.0) and official[0, 0] == 1.0
    assert rm.direction_of(["the", "man", "on", "the", "left"]) == "left"
    assert rm.direction_of(["upper", "shelf"]) == "top"
    assert rm.direction_of(["the", "red", "car"]) is None
    assert rm.direction_of(["the", "left-most", "cat"]) == "left" and rm.direction_of(["cat", "on", "the", "far-right"]) == "right"


def test_discriminative_and_fusion_pick_the_expected_proposal() -> None:
    r = rm.text_feature(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    assert np.allclose(r, [0.5, 0.5, 0.0])
    soft = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    hard = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    v = rm.visual_features(soft, hard, beta=0.3)  # Eq. 7
    s_d = rm.discriminative_scores(v, r)  # Eq. 10
    assert int(np.argmax(s_d)) == 2
    s_g = np.array([0.9, 0.1, 0.2])
    assert (
        rm.select(rm.fuse(s_g, s_d, alpha=0.1)) == 2
    )  # Eq. 1-2: the discriminative side dominates at α = 0.1
    assert rm.select(rm.fuse(s_g, s_d, alpha=1.0)) == 0  # generative only
    assert rm.fuse(s_g, s_d, 0.1) == pytest.approx(0.1 * s_g + 0.9 * s_d)
    assert rm.select([0.1, 0.9, 0.5], valid=[True, False, True]) == 2
    assert rm.select([]) == -1


#: the authors' settings, verbatim from kodenii/Ref-Diff ``config/refcoco.yaml`` (HYPER and MODEL sections)
AUTHORS_CONFIG = {"hard_weight": 0.7, "soft_weight": 0.3, "diff_weight": 0.05, "diffusion_step": 20,
                  "diffusion_strength": 0.1}  # fmt: skip


def _authors_score(hard: np.ndarray, soft: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """``CRIS.forward`` in kodenii/Ref-Diff ``model/segmenter.py``, transcribed:
    ``score = self.hard_weight * score_hard + self.soft_weight * score_soft + self.diff_weight * score_diff``."""
    c = AUTHORS_CONFIG
    return c["hard_weight"] * hard + c["soft_weight"] * soft + c["diff_weight"] * diff


def test_official_proposals_are_the_ten_largest_above_its_floor() -> None:
    """kodenii/Ref-Diff keeps the 10 largest proposals above 10,000 px of a COCO photo (~3.3 % of it)."""
    from refedit.pipeline.segment.refdiff.scores import official_valid

    areas = np.array([5, 400, 40, 3000, 20] + [500 + k for k in range(12)])  # of a 100x100 image: floor ~326 px
    valid = official_valid(areas, 100 * 100)
    assert valid.sum() == 10 and not valid[[0, 2, 4]].any() and valid[3] and not valid[1] and not valid[5:7].any()
    assert official_valid(np.array([5, 9, 7]), 100 * 100).tolist() == [False, True, False]  # none so large: the largest
    assert official_valid(np.array([]), 100).tolist() == []


def test_official_fusion_weights() -> None:
    rng = np.random.default_rng(3)
    hard, soft, diff = rng.random(6), rng.random(6), rng.normal(size=6)
    assert rm.fuse_official(hard, soft, diff) == pytest.approx(_authors_score(hard, soft, diff))
    one_hot = np.eye(3)  # each proposal wins on one score alone: the hard (masked-crop) score weighs most
    assert rm.select(rm.fuse_official(one_hot[0], one_hot[1], one_hot[2])) == 0


# --------------------------------------------------------------------------- root token
def test_root_word_and_token_indices() -> None:
    from refedit.pipeline.segment.refdiff import root_word, token_indices
    from refedit.testing.tiny_models import tiny_clip_tokenizer

    assert root_word("the cat on the left", "cat")[0] == "cat"
    word, start, end = root_word("the black horse jumping", "horse")
    assert word == "horse" and "the black horse jumping"[start:end] == "horse"
    tok = tiny_clip_tokenizer()  # one token per character
    text = "the black horse"
    idx = token_indices(tok, text, 10, 15)
    ids = tok(text).input_ids
    assert [tok.convert_ids_to_tokens(ids[i]) for i in idx] == [
        "h",
        "o",
        "r",
        "s",
        "e</w>",
    ]


# --------------------------------------------------------------------------- the segmenter
def _plan(
    expression: str = "the black horse on the left", head: str = "horse"
) -> EditPlan:
    target = Target(expression, head, spatial="left" if "left" in expression else None)
    return EditPlan(f"replace {expression} with a tiger", "replace", target, "tiger", head,
                    f"a photo of {expression}", "a photo of a tiger", "rules")  # fmt: skip


def _image(w: int = 80, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


FAST_REFDIFF = {"resolution": 64, "sam_grid": 3}


@pytest.fixture
def store(tiny_settings):  # type: ignore[no-untyped-def]
    from refedit.pipeline.models import ModelStore

    return ModelStore(tiny_settings)


@pytest.mark.parametrize("fusion", ["paper", "official"])
def test_segment_end_to_end(store, fusion: str) -> None:  # type: ignore[no-untyped-def]
    from refedit.pipeline.segment.refdiff import RefDiffOptions, RefDiffSegmenter

    seg = RefDiffSegmenter(
        store,
        RefDiffOptions.from_mapping({**FAST_REFDIFF, "fusion": fusion, "steps": None}),
    )
    image = _image()
    with record_unet_calls(seg.sd.unet) as unet_calls:
        out = seg.segment(image=image, plan=_plan(), hints=Hints())
    assert out.mask.shape == (48, 80) and out.mask.dtype == bool and out.mask.any()
    assert out.segmenter == "refdiff" and out.chosen == (0,)
    assert out.reason.startswith("Ref-Diff: best of ") and "ROOT 'horse'" in out.reason
    assert 1 <= len(out.candidates) <= 8
    assert out.candidates[0].mask is not None and out.candidates[0].mask.shape == (48, 80)
    assert all(c.label == "horse" and c.mask is None for c in out.candidates[1:])  # runners-up: boxes only
    assert all(0 <= c.box[0] <= c.box[2] <= 80 and 0 <= c.box[1] <= c.box[3] <= 48 for c in out.candidates)
    assert np.array_equal(out.mask, out.candidates[0].mask)
    # the paper's t = 2 (the authors' code: t_enc = int(0.1 · 20) = 2 DDIM steps from there), guidance 1:
    # two real UNet calls on one latent, at the two lowest timesteps of diffusers' 20-step DDIM schedule
    lowest = ddim_timesteps(seg.sd.scheduler_config, 20)[-2:]
    assert unet_calls == [UNetCall(1, lowest[0]), UNetCall(1, lowest[1])]
    again = seg.segment(image=image, plan=_plan(), hints=Hints())  # deterministic
    assert np.array_equal(again.mask, out.mask) and again.reason == out.reason


def test_segment_single_pass_guidance_and_attention_only(store) -> None:  # type: ignore[no-untyped-def]
    from refedit.pipeline.segment.refdiff import RefDiffOptions, RefDiffSegmenter

    opts = RefDiffOptions(
        resolution=64, passes=1, guidance=9.0, proposals="attention", beta=0.0
    )
    seg = RefDiffSegmenter(store, opts)
    with record_unet_calls(seg.sd.unet) as unet_calls:
        out = seg.segment(image=_image(64, 96), plan=_plan("the cat", "cat"), hints=Hints())
    assert out.mask.shape == (96, 64)
    assert [c.batch for c in unet_calls] == [2]  # one pass; CFG: one UNet call on the [uncond, cond] batch
    assert not any(component == "sam" for _, component in store.loads)  # attention proposals only: no SAM
    assert "attention proposal" in out.reason


def test_global_edit_is_the_whole_image(store) -> None:  # type: ignore[no-untyped-def]
    from refedit.pipeline.segment.refdiff import RefDiffSegmenter

    plan = EditPlan(
        "make it winter",
        "global",
        Target("image", "image"),
        None,
        "image",
        "a",
        "b",
        "rules",
    )
    out = RefDiffSegmenter(store).segment(image=_image(), plan=plan, hints=Hints())
    assert out.mask.all() and store.loads == []


@contextmanager
def _root_attention(unet, expression: str, word: str, tokenizer, hw: tuple[int, int]):  # type: ignore[no-untyped-def]
    """Eq. 4 by hand while the block runs: softmax(QK^T/sqrt(d)) of every cross-attention call with h·w
    queries, head-averaged. The yielded list then holds the ROOT word's (h, w) map ā_k averaged over the
    calls (its sub-word tokens averaged, found by their spelling in the tokenized text)."""
    import torch
    from diffusers.models.attention_processor import Attention

    tokens = tokenizer.convert_ids_to_tokens(tokenizer(expression).input_ids)
    parts = [*word[:-1], word[-1] + "</w>"]  # the tiny tokenizer: one token per character
    start = next(i for i in range(len(tokens)) if tokens[i : i + len(parts)] == parts)
    probs: list[torch.Tensor] = []

    def pre(module, args, kwargs):  # type: ignore[no-untyped-def]
        hs, enc = (args[0] if args else kwargs["hidden_states"]), kwargs.get("encoder_hidden_states")
        if enc is None or hs.shape[1] != hw[0] * hw[1]:
            return
        q, k = module.to_q(hs[-1:]), module.to_k(enc[-1:])  # the conditional entry
        q = q.view(1, q.shape[1], module.heads, -1).transpose(1, 2)
        k = k.view(1, k.shape[1], module.heads, -1).transpose(1, 2)
        probs.append(torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1).mean(dim=1)[0])

    handles = [m.register_forward_pre_hook(pre, with_kwargs=True) for m in unet.modules() if isinstance(m, Attention)]
    out: list[np.ndarray] = []
    try:
        yield out
    finally:
        for h in handles:
            h.remove()
    assert probs, f"no cross-attention call with {hw} queries"
    a = torch.stack(probs).mean(dim=0)[:, start : start + len(parts)].mean(dim=-1)
    out.append(a.reshape(hw).float().numpy())


def _authors_heatmap(a_k: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The authors' ``get_diffattn`` geometry (kodenii/Ref-Diff ``model/segmenter.py``): the map of the
    padded square resized to the square's side in image pixels, the image's region cropped out, then min-max
    normalised (Eq. 5). Bilinear here where the authors use Lanczos on 8 bits."""
    import torch
    import torch.nn.functional as F

    w, h = size
    side = max(w, h)
    m = F.interpolate(torch.from_numpy(a_k)[None, None], size=(side, side), mode="bilinear", align_corners=False)
    m = m[0, 0, (side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w].numpy()
    return (m - m.min()) / (m.max() - m.min() + 1e-8)


def test_attention_heatmap_and_overlay(store) -> None:  # type: ignore[no-untyped-def]
    """The heat map is the ROOT token's cross-attention (Eq. 4-5) placed on the image: it matches a map
    computed by hand from the UNet's own Q and K with the authors' geometry, and not a wrong token's or a
    flipped one (min-max normalisation alone would make any [0, 1] check pass)."""
    from refedit.pipeline.segment.refdiff import (
        RefDiffOptions,
        RefDiffSegmenter,
        overlay_heatmap,
    )

    # attention_level=1: read latent/1, where the tiny UNet's down and up blocks have cross-attention
    seg = RefDiffSegmenter(store, RefDiffOptions(resolution=64, attention_level=1))
    image, plan = _image(100, 60), _plan()
    latent = 64 // seg.sd.vae_scale
    tokenizer = seg.sd.component("tokenizer")
    unet, expression, hw = seg.sd.unet, plan.target.expression, (latent, latent)
    with (_root_attention(unet, expression, "horse", tokenizer, hw) as root,
          _root_attention(unet, expression, "left", tokenizer, hw) as other):  # fmt: skip
        heat = seg.attention_heatmap(image, plan)
    assert heat.shape == (60, 100) and heat.dtype == np.float32
    expected, wrong = _authors_heatmap(root[0], image.size), _authors_heatmap(other[0], image.size)

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert corr(heat, expected) > 0.95 and np.abs(heat - expected).mean() < 0.06
    assert corr(heat, expected[::-1]) < 0.5 and corr(heat, expected[:, ::-1]) < 0.5  # placed, not mirrored
    assert corr(heat, wrong) < 0.9  # the ROOT word's map, not another word's
    over = overlay_heatmap(image, heat)
    assert over.size == image.size and over.mode == "RGB"
    assert {c for _, c in store.loads} <= {"unet", "vae", "text_encoder", "tokenizer", "scheduler"}  # SD only


def test_shares_sd_components_with_diffedit(store) -> None:  # type: ignore[no-untyped-def]
    from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions
    from refedit.pipeline.segment.refdiff import RefDiffOptions, RefDiffSegmenter

    seg = RefDiffSegmenter(store, RefDiffOptions(resolution=64, proposals="attention"))
    editor = DiffEditEditor(store, DiffEditOptions(steps=4, resolution=64))
    image, plan = _image(64, 64), _plan()
    segmentation = seg.segment(image=image, plan=plan, hints=Hints())
    editor.edit(image=image, plan=plan, segmentation=segmentation, seed=0)
    assert seg.sd.unet is editor.sd.unet and seg.sd.vae is editor.sd.vae
    for component in ("unet", "vae", "text_encoder", "tokenizer"):
        assert sum(1 for _, c in store.loads if c == component) == 1, store.loads


@pytest.mark.parametrize(
    "bad",
    [{"t_index": 0}, {"t_index": 21}, {"passes": 3}, {"alpha": 1.5}, {"fusion": "mean"}, {"proposals": "dino"},
     {"min_area": 0.5, "max_area": 0.4}, {"guidance": 0.5}],
)  # fmt: skip
def test_options_are_validated(bad: dict) -> None:
    from refedit.pipeline.segment.refdiff import RefDiffOptions

    with pytest.raises(BadInput):
        RefDiffOptions.from_mapping(bad)


def test_option_defaults_are_the_papers() -> None:
    from refedit.pipeline.segment.refdiff import RefDiffOptions

    # Ref-Diff Sec. 4.1: "We set t, α, and β to 2, 0.1, and 0.3, respectively." The step count is not in the
    # paper: the authors' config runs ``diffusion_step`` DDIM steps at ``diffusion_strength``, i.e.
    # t_enc = int(strength · steps) (``get_diffattn``), which must be the paper's t.
    paper = {"t": 2, "alpha": 0.1, "beta": 0.3}
    cfg = AUTHORS_CONFIG
    assert int(cfg["diffusion_strength"] * cfg["diffusion_step"]) == paper["t"]
    o = RefDiffOptions()
    assert (o.t_index, o.alpha, o.beta) == (paper["t"], paper["alpha"], paper["beta"])
    assert (o.steps, o.strength) == (cfg["diffusion_step"], pytest.approx(cfg["diffusion_strength"]))
    assert o.fusion == "paper"
    assert RefDiffOptions.from_mapping({"alpha": None, "unknown": 1}).alpha == paper["alpha"]


def test_cli_refdiff_segment_with_attention_and_edit(tmp_path, tiny_env):
    """`refedit segment --segmenter refdiff --attention` and `refedit edit --segmenter refdiff` end to end."""
    import json

    from click.testing import CliRunner

    from refedit.cli import main
    from tests.conftest import EXAMPLES

    cat = str(EXAMPLES / "cat.jpg")
    attn, mask = tmp_path / "attn.png", tmp_path / "mask.png"
    r = CliRunner().invoke(main, ["segment", cat, "the cat on the left", "--segmenter", "refdiff", "--attention",
                                  str(attn), "-o", str(mask), "--json", "-O", "refdiff_resolution=64",
                                  "-O", "sam_grid=2"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert Image.open(attn).size == Image.open(cat).size and Image.open(mask).size == Image.open(cat).size
    assert json.loads(r.stdout)["segmentation"]["reason"].startswith("Ref-Diff")
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", cat, "replace the cat with a tiger", "--segmenter", "refdiff", "-o", str(out),
                                  "--steps", "4", "--resolution", "64", "-O", "refdiff_resolution=64", "-O",
                                  "sam_grid=2"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert out.exists() and Image.open(out).size == Image.open(cat).size


def test_grounded_sam_detections_scored_by_refdiff(tiny_settings):
    """proposals="grounded": the resolver's detections (here given boxes with --box-mask) become Ref-Diff
    proposals, so the two segmenters combine; "all" adds them to the attention and SAM proposals."""
    from refedit.pipeline.artifacts import Candidate, EditPlan, Hints, Target
    from refedit.pipeline.chain import build_stage
    from refedit.pipeline.segment.detections import GivenDetections

    image = Image.new("RGB", (96, 64), (120, 90, 60))
    plan = EditPlan("remove the cat on the left", "remove", Target("cat on the left", "cat", spatial="left"), None,
                    "cat", "a photo of a cat", "a photo of the background", "rules")  # fmt: skip
    seg = build_stage("segmenter", "refdiff", tiny_settings, proposals="grounded", box_mask=True, sam_grid=2,
                      refdiff_resolution=64)  # fmt: skip
    seg.grounded._detector = GivenDetections([Candidate((4, 4, 40, 60), 0.9, "cat"), Candidate((50, 8, 90, 56), 0.8, "cat")])
    out = seg.segment(image=image, plan=plan, hints=Hints())
    assert "grounded proposal" in out.reason and out.mask.shape == (64, 96)
    boxes = sorted(c.box for c in out.candidates)
    assert len(boxes) == 2 and boxes[0][0] <= 5 and boxes[1][0] >= 49  # exactly the two detections, scored
    every = build_stage("segmenter", "refdiff", tiny_settings, proposals="all", box_mask=True, sam_grid=2,
                        refdiff_resolution=64)  # fmt: skip
    every.grounded._detector = seg.grounded._detector
    assert len(every.segment(image=image, plan=plan, hints=Hints()).candidates) > 2


def test_sam_standard_filters(tiny_settings):
    """SAM's automatic-mask filters: the stability score, and the predicted-IoU / stability thresholds
    that decide which grid-prompted masks become proposals."""
    from refedit.pipeline.chain import build_stage
    from refedit.pipeline.segment import refdiff as rm

    logits = np.full((2, 4, 4), -5.0)
    logits[0, :2, :2] = 5.0  # confident: the same mask at both offsets
    logits[1, :2, :2], logits[1, 2:, 2:] = 5.0, 0.5  # half of it is borderline
    assert rm.stability_scores(logits).tolist() == [1.0, 0.5]
    image = Image.new("RGB", (64, 48), (30, 140, 200))
    loose = build_stage("segmenter", "refdiff", tiny_settings, proposals="sam", sam_grid=3, sam_iou_thresh=0.0,
                        sam_stability_thresh=0.0, min_area=0.0, refdiff_resolution=64)  # fmt: skip
    strict = build_stage("segmenter", "refdiff", tiny_settings, proposals="sam", sam_grid=3, sam_iou_thresh=1.01,
                         refdiff_resolution=64)  # fmt: skip
    assert loose.sam_proposals(image) and strict.sam_proposals(image) == []


def test_hard_features_are_vanilla_clip_and_soft_ones_mask_only_the_cls_copies(tmp_path, monkeypatch) -> None:
    """Eq. 7: f(x ⊙ M_i) is "the vanilla CLIP image encoder" (its [CLS] of the penultimate layer, nothing masked: the
    patches attend to [CLS] as in CLIP), while in f_{M_i} the patches never read the [CLS] copies, so even one copy
    over every patch differs from it. On a 4-layer tower: with 2 layers only one runs and the two are equal."""
    import torch
    from transformers import CLIPModel

    from refedit.config import Settings
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.options import RefDiffOptions
    from refedit.pipeline.segment.refdiff.discriminative import ClipFeatures
    from refedit.testing import tiny_models as tm

    monkeypatch.setattr(tm, "TINY_LAYERS", {**tm.TINY_LAYERS, "num_hidden_layers": 4})
    path = tm.build_tiny_clip(tmp_path / "clip4")
    store = ModelStore(Settings(models={"clip": str(path)}, device="cpu", dtype="float32"))
    features = ClipFeatures(store, RefDiffOptions(), lambda kind, shapes, fn: fn())
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    hard = features.hard(image, [np.ones((32, 32), dtype=bool)])[0]
    model = CLIPModel.from_pretrained(path).eval()
    with torch.inference_mode():
        out = model.vision_model(pixel_values=features.pixels([image]), output_hidden_states=True)
        cls = model.visual_projection(model.vision_model.post_layernorm(out.hidden_states[-2][:, 0]))
    vanilla = torch.nn.functional.normalize(cls, dim=-1)[0].numpy()
    assert np.abs(hard - vanilla).max() < 1e-5
    soft = features.mask_tokens(features.pixels([image]), torch.ones(1, 1, 16, dtype=torch.bool))[0, 0]
    assert np.abs(soft - vanilla).max() > 1e-4  # the patches never read [CLS] in the masked pass: not the same feature
