"""Pure DDIM math, no model."""

import pytest
import torch

from refedit.core import ddim


def test_step_and_inverse_are_inverse_for_fixed_eps():
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    eps = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    up = ddim.ddim_inverse_step(x, eps, 0.9, 0.5)
    assert torch.allclose(ddim.ddim_step(up, eps, 0.5, 0.9), x, atol=1e-5)


def test_blend_and_mask():
    m = torch.zeros(16, 16)
    m[4:8, 4:8] = 1
    lm = ddim.downsample_mask(m, (4, 4))
    assert lm.shape == (1, 1, 4, 4) and lm.sum() == 1
    a, b = torch.ones(1, 4, 4, 4), torch.zeros(1, 4, 4, 4)
    out = ddim.blend_latents(a, b, lm)
    assert out[0, :, 1, 1].eq(1).all() and out.sum() == 4


def test_partial_mask_cell_counts_as_inside():
    m = torch.zeros(16, 16)
    m[0, 0] = 1
    assert ddim.downsample_mask(m, (4, 4))[0, 0, 0, 0] == 1


def test_schedule_matches_diffusers_ddim():
    from diffusers import DDIMScheduler

    s = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                      set_alpha_to_one=False, steps_offset=1)  # fmt: skip
    s.set_timesteps(50)
    sched = ddim.ddim_schedule(s.alphas_cumprod, steps=50, ratio=0.5, final_alpha=float(s.final_alpha_cumprod))
    assert list(sched.timesteps) == s.timesteps[25:].tolist()
    assert len(sched.timesteps) == ddim.encode_steps(50, 0.5) == 25
    assert ddim.encode_steps(50, 0.33) == 17 and ddim.encode_steps(10, 1.0) == 10
    # the step to the end of the trajectory uses the final alpha
    assert sched.alphas_prev[-1] == float(s.final_alpha_cumprod)
    # DDIM's own step agrees with ours
    x, eps = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
    ref = s.step(eps, int(sched.timesteps[3]), x).prev_sample
    assert torch.allclose(ddim.ddim_step(x, eps, sched.alphas[3], sched.alphas_prev[3]), ref, atol=1e-5)


def test_the_most_steps_end_on_the_last_trained_timestep():
    """SD's leading spacing with offset 1: 999 steps run 999..1; 1000 would ask for ᾱ_1000, which SD has not (an
    IndexError in every editor at a full schedule); the command line's limit is 999."""
    from refedit.core.limits import MAX_STEPS

    alphas = torch.linspace(0.999, 0.005, 1000)
    assert ddim.ddim_schedule(alphas, steps=MAX_STEPS, ratio=1.0).timesteps[0] == 999
    with pytest.raises(ValueError, match="use at most 999"):
        ddim.ddim_schedule(alphas, steps=1000, ratio=1.0)


def test_the_shared_sampling_loop_is_the_ddim_recursion_with_a_hook_after_each_step():
    sched = ddim.Schedule(timesteps=(901, 601, 301), alphas=(0.05, 0.3, 0.6), alphas_prev=(0.3, 0.6, 0.9))
    x0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    eps = lambda x, t: torch.sin(x * t / 1000.0)  # noqa: E731 - any deterministic noise prediction
    seen = []
    got = ddim.sample(x0, sched, eps, lambda k, x: seen.append(k) or x * 0.5)
    want = x0
    for k, t in enumerate(sched.timesteps):
        want = ddim.ddim_step(want, eps(want, t), sched.alphas[k], sched.alphas_prev[k]) * 0.5
    assert seen == [0, 1, 2] and torch.equal(got, want)
