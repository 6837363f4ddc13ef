"""refedit's DiffEdit editor against diffusers' deprecated ``StableDiffusionDiffEditPipeline`` (0.42.1) as an oracle.

Both run the same tiny random-weight SD checkpoint, loaded from the same directory, on the same z_0:
refedit's ``DiffEditEditor.invert`` / ``.denoise`` against the reference's ``invert(...)`` and
``__call__(..., output_type="latent")``, on latents before decoding (no full-resolution paste-back), with the
same binary latent-resolution mask, r, T and guidance w = 7.5.

The main comparisons run in float64 (refedit through a float64 ModelStore; the reference loaded with
``torch_dtype=float64`` and its schedulers' ᾱ tables cast to float64): in float32 the random tiny UNet under
7.5× guidance amplifies last-bit differences (the reference takes √ᾱ and √(1−ᾱ) in float32, refedit in
float64 of the same float32 ᾱ) to ~5e-5 (T=10), ~8e-5 (T=20), ~1.1e-4 (T=50) max abs, which would hide
nothing but also prove little at a 1e-4 bound. In float64 the measured max abs diff of the final latents is
~1.6e-13 (T=10, r=0.5), i.e. the algorithms are identical once configured as below; the float32 path is
checked too, at 1e-3.

The same in both (checked): VAE encoding is a posterior *sample* ``latent_dist.sample(generator)`` ×
``scaling_factor`` (same seed, same z_0); DDIM "leading" timesteps with ``steps_offset`` 1, inversion over the
lowest n timesteps ascending and denoising over the same n descending; the step to/from the clean end uses
ᾱ_0 (SD 1.5's ``set_alpha_to_one=False``) in the forward and the inverse scheduler alike; the inversion step
(Eq. 3) evaluates ε at the *target* timestep on the current latent; denoising starts from the most-noised
inverted latent x_{t_r}; CFG ε_u + w(ε_c − ε_u) with the empty string as the unconditional prompt, all
prompts padded to 77 tokens; η = 0.

Where the algorithms differ (refedit follows InstructEdit Eq. 2-4; the reference is configured to follow it,
and the unmodified behaviour is measured):

1. **Guidance during inversion.** The reference's ``invert`` defaults to ``guidance_scale=7.5``: CFG (empty
   negative prompt) while inverting. Eq. 3 uses the conditional ε_θ(x_t, c, t), as refedit does. Configured
   with ``guidance_scale=1`` (then 0.0 apart in float64, ~1e-6 in float32); with the default the inverted
   latents differ by ~1.0-1.2 max abs. Regularisation is off by default (``num_reg_steps=0``) and passed as 0.
2. **Which inverted latent is blended in (off by one).** After denoising step i (t_i → t_{i−1}) the reference
   blends ``latents * M + image_latents[i] * (1 − M)`` where ``image_latents[i]`` is the inverted latent at
   t_i, the noise level of the step's *input*, one step noisier than the result; its last step blends the
   latent at t = 1 (one DDIM step above z_0), not z_0 (its comment "use original image latent for last step"
   does not hold). Eq. 4, ỹ_t = M y_t + (1 − M) x_t, blends the latent of the *same* noise level and ends with
   ỹ_0 = M y_0 + (1 − M) x_0, as refedit does: outside the mask its final latent *is* z_0. Measured: refedit vs
   the unmodified reference, max abs 0.64 (float64, T=10) / 0.65 (float32, T=50), all of it inside the mask
   plus 0.017-0.019 outside, where the reference's final latent differs from z_0 by that much. Configured
   through the reference's public per-step ``callback`` (it runs right after the reference's blend): it
   re-blends the outside of the binary mask with Eq. 4's latent (exact, since M ∈ {0, 1}); then 1.6e-13 apart
   in float64. Conversely refedit's ``denoise`` fed the trajectory shifted by one reproduces the unmodified
   reference (1.1e-13 in float64): the blend index is the *only* difference in the denoising loop.
3. **⌈r·T⌉ vs ⌊r·T⌋ steps.** The reference encodes ``int(T · inpaint_strength)`` steps, refedit ⌈r·T⌉ (never
   zero steps for a small r; the paper does not say which). Equal when r·T is an integer; otherwise (T=7,
   r=0.3: 3 vs 2 steps) the reference is given ``inpaint_strength = (n + 0.5) / T`` with n = ⌈r·T⌉.
4. **v-prediction checkpoints (SD 2.x-v) only, not compared here.** refedit's inversion turns the UNet's v into ε
   at ᾱ of the step's *target* timestep, the one ε is evaluated at (Eq. 3's convention above); diffusers'
   ``DDIMInverseScheduler`` converts at the current, lower level. A tiny v-model's inverted latents differ by ~0.18
   max abs (latent scale ~1.5); reconstruction favours neither (paper audit, session 21). The papers use SD 1.5
   (ε-prediction), which this file checks.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from refedit.core import ddim
from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions, Inversion
from refedit.pipeline.models import ModelStore

from .conftest import EXAMPLES

SOURCE, EDITED = "a photo of a cat", "a photo of a tiger"
STEPS, RATIO, GUIDANCE = 10, 0.5, 7.5
TOL = 1e-4  #: the issue's bound on latents before decoding
F32_STEPS, F32_TOL = 10, 1e-3


class Float64Store(ModelStore):
    """refedit's model store loading every component in float64 (not a user-facing dtype)."""

    @property
    def dtype(self) -> torch.dtype:
        return torch.float64


def load_reference(path, dtype: torch.dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDIMInverseScheduler, DDIMScheduler, StableDiffusionDiffEditPipeline

        pipe = StableDiffusionDiffEditPipeline.from_pretrained(
            path,
            torch_dtype=dtype,
            safety_checker=None,
            requires_safety_checker=False,
            scheduler=DDIMScheduler.from_pretrained(path, subfolder="scheduler"),
            inverse_scheduler=DDIMInverseScheduler.from_pretrained(path, subfolder="scheduler"),
        )
    pipe.set_progress_bar_config(disable=True)
    if dtype == torch.float64:
        # the schedulers keep ᾱ in float32 and take square roots there; refedit takes them in float64 of the
        # same float32 ᾱ values. Give the reference the same numbers in float64 so only algorithms can differ.
        fwd, inv = pipe.scheduler, pipe.inverse_scheduler
        fwd.alphas_cumprod, fwd.final_alpha_cumprod = fwd.alphas_cumprod.double(), fwd.final_alpha_cumprod.double()
        inv.alphas_cumprod, inv.initial_alpha_cumprod = inv.alphas_cumprod.double(), inv.initial_alpha_cumprod.double()
    return pipe


@pytest.fixture(scope="module")
def reference(tiny_models):
    """The reference pipeline in float64 (see the module docstring)."""
    return load_reference(tiny_models["sd"], torch.float64)


def image() -> Image.Image:
    return Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((64, 48), Image.Resampling.LANCZOS)


def latent_mask(shape: tuple[int, int]) -> torch.Tensor:
    h, w = shape
    y, x = np.ogrid[:h, :w]
    inside = ((x - 0.55 * w) / (0.3 * w)) ** 2 + ((y - 0.5 * h) / (0.35 * h)) ** 2 <= 1
    return torch.from_numpy(inside).float()[None, None]


def editor(settings, steps: int = STEPS, ratio: float = RATIO, store: type[ModelStore] = Float64Store) -> DiffEditEditor:
    return DiffEditEditor(store(settings), DiffEditOptions(steps=steps, encode_ratio=ratio, guidance=GUIDANCE))


def strength_for(steps: int, ratio: float) -> float:
    """The reference's ``inpaint_strength`` that gives refedit's ⌈r·T⌉ steps through its ``int(T · s)``."""
    n = ddim.encode_steps(steps, ratio)
    return min(1.0, (n + 0.5) / steps)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def invert_reference(pipe, z0: torch.Tensor, steps: int, strength: float, guidance: float = 1.0) -> torch.Tensor:
    return pipe.invert(
        prompt=SOURCE, image=z0, num_inference_steps=steps, inpaint_strength=strength, guidance_scale=guidance,
        num_reg_steps=0,
    ).latents  # fmt: skip


def denoise_reference(pipe, image_latents, mask, steps: int, strength: float, targets=None) -> torch.Tensor:
    """``__call__(output_type="latent")``; with ``targets`` (Eq. 4's latent after each step) its public per-step
    callback, which runs right after the reference's own blend, re-blends the outside of the binary mask."""
    callback = None if targets is None else (lambda i, t, x: x.copy_(x * mask + targets[i] * (1 - mask)))
    return pipe(
        prompt=EDITED, mask_image=mask, image_latents=image_latents, inpaint_strength=strength,
        num_inference_steps=steps, guidance_scale=GUIDANCE, output_type="latent", callback=callback,
    ).images  # fmt: skip


def test_vae_posterior_sample_matches(tiny_settings, reference):
    ed = editor(tiny_settings)
    img = image()
    ours = ed.sd.encode_image(img, torch.Generator().manual_seed(3))
    theirs = reference.prepare_image_latents(
        reference.image_processor.preprocess(img), 1, reference.vae.dtype, "cpu", torch.Generator().manual_seed(3)
    )
    assert max_diff(ours, theirs) <= TOL
    assert max_diff(ours, ed.sd.encode_image(img)) > 1e-3  # a sample, not the posterior mean


@pytest.mark.parametrize("steps,ratio", [(STEPS, RATIO), (7, 0.3)])
def test_inversion_matches_reference_without_inversion_guidance(tiny_settings, reference, steps, ratio):
    ed = editor(tiny_settings, steps, ratio)
    z0 = ed.sd.encode_image(image(), torch.Generator().manual_seed(0))
    ours = torch.stack(ed.invert(z0, SOURCE).latents, 1)  # (1, n, 4, h, w), most noised first
    n = ddim.encode_steps(steps, ratio)
    assert ours.shape[1] == n == math.ceil(ratio * steps)

    theirs = invert_reference(reference, z0, steps, strength_for(steps, ratio))
    assert theirs.shape == ours.shape
    assert max_diff(ours, theirs) <= TOL

    # difference 3: the reference's own step count for this r is floor(r*T)
    assert invert_reference(reference, z0, steps, ratio).shape[1] == int(ratio * steps)
    # difference 1: the reference's default inversion uses CFG (w=7.5): a different trajectory
    if ratio * steps == n:
        assert max_diff(ours, invert_reference(reference, z0, steps, ratio, guidance=7.5)) > 0.1


def test_denoise_matches_reference_with_eq4_blend(tiny_settings, reference):
    ed = editor(tiny_settings)
    z0 = ed.sd.encode_image(image(), torch.Generator().manual_seed(0))
    mask = latent_mask(tuple(z0.shape[-2:]))
    inv = ed.invert(z0, SOURCE)
    ours = ed.denoise(inv, EDITED, mask, GUIDANCE)
    assert torch.equal(ours * (1 - mask), z0 * (1 - mask))  # Eq. 4 ends on x_0 outside the mask

    image_latents = invert_reference(reference, z0, STEPS, RATIO)
    # the reference with Eq. 4's blend
    eq4 = denoise_reference(reference, image_latents, mask, STEPS, RATIO, targets=[*inv.latents[1:], z0])
    assert max_diff(ours, eq4) <= TOL

    # the unmodified reference blends step i's output with the latent of step i's *input* (difference 2) ...
    plain = denoise_reference(reference, image_latents, mask, STEPS, RATIO)
    assert max_diff(ours, plain) > 1e-2  # the two blends really differ
    assert max_diff(plain * (1 - mask), z0 * (1 - mask)) > 1e-3  # and the reference does not end on z_0 outside
    # ... which refedit's denoise reproduces when fed the trajectory shifted by one: the only difference
    lat = inv.latents
    shifted = Inversion(start=lat[-1], latents=(lat[0], *lat[:-1]), schedule=inv.schedule)
    assert max_diff(ed.denoise(shifted, EDITED, mask, GUIDANCE), plain) <= TOL


def test_float32_matches_reference_to_rounding(tiny_settings, tiny_models):
    """The product's float32 path: same algorithm, float32 rounding (ᾱ square roots taken in float32 by the
    reference, float64 by refedit) amplified by 7.5× guidance through a random UNet."""
    pipe = load_reference(tiny_models["sd"], torch.float32)
    ed = editor(tiny_settings, F32_STEPS, RATIO, store=ModelStore)
    z0 = ed.sd.encode_image(image(), torch.Generator().manual_seed(0))
    mask = latent_mask(tuple(z0.shape[-2:]))
    inv = ed.invert(z0, SOURCE)
    ours = ed.denoise(inv, EDITED, mask, GUIDANCE)
    image_latents = invert_reference(pipe, z0, F32_STEPS, RATIO)
    assert max_diff(torch.stack(inv.latents, 1), image_latents) <= TOL
    eq4 = denoise_reference(pipe, image_latents, mask, F32_STEPS, RATIO, targets=[*inv.latents[1:], z0])
    assert max_diff(ours, eq4) <= F32_TOL
