"""The DiffEdit editor on the tiny Stable Diffusion, through the ordinary from_pretrained paths."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from refedit.config import Settings
from refedit.pipeline.artifacts import Segmentation
from refedit.core import ddim
from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions
from refedit.pipeline.models import ModelStore
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.sd import StableDiffusion
from refedit.testing.tiny_models import build_tiny_sd

from .conftest import EXAMPLES
from .hooks import UNetCall, ddim_timesteps, record_unet_calls

PLAN = RulesParser().parse(instruction="replace the cat with a tiger")


def photo(size):
    return Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize(size)


def ellipse_mask(w, h, box):
    y, x = np.ogrid[:h, :w]
    cx, cy, rx, ry = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1


def editor(settings, **opts):
    return DiffEditEditor(ModelStore(settings), DiffEditOptions(**{"steps": 10, "resolution": 64, **opts}))


@pytest.mark.parametrize("size,box", [((1000, 750), (100, 80, 900, 700)), ((1000, 750), (850, 620, 950, 720))])
def test_outside_mask_bit_identical_full_resolution(tiny_settings, size, box):
    img = photo(size)
    mask = ellipse_mask(*size, box)
    ed = editor(tiny_settings)
    res = ed.edit(image=img, plan=PLAN, segmentation=Segmentation(mask), seed=0)
    assert res.image.size == size
    src, out = np.asarray(img), np.asarray(res.image)
    grown = ed.options.paste_dilate + ed.options.feather + 1
    from refedit.core.masks import dilate

    outside = ~dilate(mask, grown)
    assert np.array_equal(src[outside], out[outside])
    assert not np.array_equal(src[mask], out[mask])  # something was edited
    assert res.metrics["outside_psnr"] == math.inf
    small = box[2] - box[0] < 200
    crop = res.parameters["crop"]
    assert (crop != [0, 0, *size]) == small  # the small target is edited on a crop


def test_same_seed_same_image(tiny_settings):
    img, mask = photo((96, 64)), ellipse_mask(96, 64, (20, 10, 70, 50))
    a = editor(tiny_settings).edit(image=img, plan=PLAN, segmentation=Segmentation(mask), seed=5)
    b = editor(tiny_settings).edit(image=img, plan=PLAN, segmentation=Segmentation(mask), seed=5)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))


# n by hand: the r·T lowest of the T steps, rounded up (never zero steps): 0.5·10 = 5, 0.3·7 = 2.1 -> 3, 4
@pytest.mark.parametrize("steps,ratio,n", [(10, 0.5, 5), (7, 0.3, 3), (4, 1.0, 4)])
def test_unet_calls_counted(tiny_settings, steps, ratio, n):
    img, mask = photo((64, 64)), ellipse_mask(64, 64, (10, 10, 50, 50))
    ed = editor(tiny_settings, steps=steps, encode_ratio=ratio)
    with record_unet_calls(ed.sd.unet) as seen:  # real UNet forwards, not the editor's counter
        ed.edit(image=img, plan=PLAN, segmentation=Segmentation(mask), seed=0)
    lowest = ddim_timesteps(ed.sd.scheduler_config, steps)[-n:]  # diffusers' own T-step DDIM schedule
    inversion = [UNetCall(1, t) for t in reversed(lowest)]  # Eq. 3 up to x_r, conditional only
    denoising = [UNetCall(2, t) for t in lowest]  # back down, one batched [uncond, cond] call per step
    assert seen == inversion + denoising
    assert ed.unet_calls == len(seen)


def assert_reconstructs(ed) -> None:
    """Invert two images and sample back with the source caption at guidance 1: relative RMS error < 5 %."""
    images = [photo((64, 64)), Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((64, 64))]
    raw = torch.cat([ed.sd.encode_image(img) for img in images])
    ed.sd.vae.register_to_config(scaling_factor=float(ed.sd.vae.config.scaling_factor / raw.std()))
    for img in images:
        z0 = ed.sd.encode_image(img)
        inv = ed.invert(z0, PLAN.source_caption)
        out = ed.denoise(inv, PLAN.source_caption, torch.ones(1, 1, *z0.shape[-2:]), guidance=1.0)
        rel = ((out - z0).pow(2).mean().sqrt() / z0.pow(2).mean().sqrt()).item()
        assert rel < 0.05, rel


def test_inversion_then_sampling_reconstructs(tiny_settings):
    """DDIM inversion followed by sampling with the same caption and guidance 1 comes back to z_0.

    With SD's convention of unit-variance latents (its 0.18215; the tiny VAE's default scaling leaves
    them ~20x too small, drowning them in noise) the relative RMS error at T=50, r=0.5 is ~2.4 % even
    with random weights (benchmarks/reconstruction.py: 1.8 % once the UNet is briefly trained)."""
    ed = editor(tiny_settings, steps=50, encode_ratio=0.5)
    assert_reconstructs(ed)


def test_empty_mask_returns_start_latent_exactly(tiny_settings):
    ed = editor(tiny_settings, steps=10)
    z0 = ed.sd.encode_image(photo((64, 64)))
    inv = ed.invert(z0, PLAN.source_caption)
    out = ed.denoise(inv, PLAN.edited_caption, torch.zeros(1, 1, *z0.shape[-2:]), guidance=7.5)
    assert torch.equal(out, z0)


def test_bfloat16_path_runs(tiny_settings):
    """Half-precision dtype plumbing (what a GPU runs in fp16) on the CPU."""
    from dataclasses import replace

    ed = editor(replace(tiny_settings, dtype="bfloat16"), steps=4)
    res = ed.edit(image=photo((64, 48)), plan=PLAN, segmentation=Segmentation(ellipse_mask(64, 48, (10, 10, 50, 40))), seed=0)
    assert res.image.size == (64, 48) and res.parameters["dtype"] == "bfloat16"


def test_inversion_reused_for_the_same_image_and_source_caption(tiny_settings):
    """A batch editing one image with several instructions inverts it once per (image, source caption, r)."""
    img, mask = photo((64, 64)), ellipse_mask(64, 64, (10, 10, 50, 50))
    ed = editor(tiny_settings, steps=10, encode_ratio=0.5)
    parser = RulesParser()
    ed.edit(image=img, plan=parser.parse(instruction="replace the cat with a tiger"), segmentation=Segmentation(mask), seed=0)
    assert ed.unet_calls == 10
    ed.edit(image=img, plan=parser.parse(instruction="make the cat golden"), segmentation=Segmentation(mask), seed=0)
    assert ed.unet_calls == 15  # same source caption "a photo of a cat": only the 5 denoising calls
    ed.edit(image=img, plan=parser.parse(instruction="replace the dog with a fox"), segmentation=Segmentation(mask), seed=0)
    assert ed.unet_calls == 25  # another source caption: inverted again


# ---------------------------------------------------------------- v-prediction (SD 2.x 768-v checkpoints)


@pytest.fixture(scope="module")
def v_models(tmp_path_factory):
    """Tiny SD checkpoints whose scheduler config says ``prediction_type: v_prediction`` (plain and inpainting)."""
    root = tmp_path_factory.mktemp("sd-v")
    return {4: build_tiny_sd(root / "sd", prediction_type="v_prediction"),
            9: build_tiny_sd(root / "inpaint", prediction_type="v_prediction", unet_in_channels=9)}  # fmt: skip


@pytest.mark.parametrize("alpha", [0.999, 0.7, 0.3, 0.0047])
def test_v_conversion_inverts_the_forward_process(alpha):
    """With v ≡ √ᾱ ε − √(1−ᾱ) x_0 (Salimans & Ho 2022) and x_t = √ᾱ x_0 + √(1−ᾱ) ε, the v-prediction
    of a known (x_0, ε) pair gives back exactly that ε and that x_0."""
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(2, 4, 8, 8, generator=g, dtype=torch.float64).unbind(0)
    v = math.sqrt(alpha) * eps - math.sqrt(1 - alpha) * x0
    x_t = ddim.noised(x0, eps, alpha)
    torch.testing.assert_close(ddim.v_to_eps(x_t, v, alpha), eps)
    torch.testing.assert_close(ddim.v_to_x0(x_t, v, alpha), x0)
    torch.testing.assert_close(ddim.predict_x0(x_t, ddim.v_to_eps(x_t, v, alpha), alpha), x0)


@pytest.mark.parametrize("prediction,channels", [("epsilon", 4), ("v_prediction", 4), ("v_prediction", 9)])
def test_ddim_step_on_the_unet_matches_diffusers_scheduler(prediction, channels, tiny_models, v_models):
    """Every SD editor steps with ``ddim_step(x, sd.eps(...))``: on an ε and on a v checkpoint that is the step
    diffusers' DDIMScheduler takes with the UNet's raw output and the checkpoint's own prediction_type."""
    from diffusers import DDIMScheduler

    path = v_models[channels] if prediction == "v_prediction" else tiny_models["sd"]
    sd = StableDiffusion(ModelStore(Settings(models={"sd": str(path)}, device="cpu")))
    assert sd.prediction_type == prediction
    oracle = DDIMScheduler.from_config(sd.scheduler_config)
    oracle.set_timesteps(10)
    sched = sd.ddim_schedule(10, 1.0)
    assert list(sched.timesteps) == oracle.timesteps.tolist()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 16, 16, generator=g)
    unet_in = torch.cat([x, torch.randn(1, channels - 4, 16, 16, generator=g)], dim=1)  # x_t first, then conditioning
    text = sd.encode_text(["a photo of a cat"])
    for k, t in enumerate(sched.timesteps):
        with torch.inference_mode():
            raw = sd.unet(unet_in, t, encoder_hidden_states=text).sample
            ours = ddim.ddim_step(x, sd.eps(unet_in, t, text), sched.alphas[k], sched.alphas_prev[k])
        torch.testing.assert_close(ours, oracle.step(raw, t, x).prev_sample, rtol=1e-4, atol=1e-4)


def test_v_prediction_inversion_then_sampling_reconstructs(v_models):
    """The reconstruction property of :func:`test_inversion_then_sampling_reconstructs` on a v checkpoint."""
    ed = editor(Settings(models={"sd": str(v_models[4])}, device="cpu"), steps=50, encode_ratio=0.5)
    assert ed.sd.prediction_type == "v_prediction"
    assert_reconstructs(ed)


@pytest.mark.parametrize("ratios", [(), (0.5, 1.0)])
def test_each_phase_reports_step_0_when_it_starts(tiny_settings, ratios):
    """The editor reports (task, 0, N) before a phase's first UNet call, then 1..N, so a progress clock counts
    step 1 too (an edit, and a sweep whose ratios share their denoising calls)."""
    seen: list[tuple[str, int, int]] = []
    ed = DiffEditEditor(ModelStore(tiny_settings), DiffEditOptions(steps=4, resolution=64, encode_ratios=ratios),
                        progress=lambda task, done, total: seen.append((task, done, total)), joint_sweep=bool(ratios))
    img, mask = photo((64, 64)), ellipse_mask(64, 64, (10, 10, 50, 50))
    ed.edit(image=img, plan=PLAN, segmentation=Segmentation(mask), seed=0)
    phases = [seen[i:] for i, (_, done, _) in enumerate(seen) if done == 0]
    assert [p[0][0] for p in phases] == ["invert", "edit"] and seen[0][1] == 0
    for phase in phases:
        task, _, total = phase[0]
        assert phase[: total + 1] == [(task, k, total) for k in range(total + 1)]
