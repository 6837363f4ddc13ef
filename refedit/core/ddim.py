"""DDIM math as pure tensor functions (DDIM, Song et al. 2021; DiffEdit; InstructEdit Eq. 2-4).

Notation: ``alpha`` is the cumulative product ᾱ_t of the noise schedule, ``eps`` the UNet's noise
prediction ε_θ(x_t, t, c). v-predicting checkpoints (SD 2.x 768-v) are brought to ε by :func:`v_to_eps`
before any of this runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_t: float) -> torch.Tensor:
    """x̂_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t."""
    return (x_t - math.sqrt(1.0 - alpha_t) * eps) / math.sqrt(alpha_t)


def v_to_eps(x_t: torch.Tensor, v: torch.Tensor, alpha_t: float) -> torch.Tensor:
    """The noise a v-prediction stands for (Salimans & Ho 2022, "Progressive Distillation", Sec. 4 and
    App. D, with v ≡ √ᾱ_t ε − √(1−ᾱ_t) x_0): ε = √(1−ᾱ_t) x_t + √ᾱ_t v. Linear in v, so classifier-free
    guidance on ε equals guidance on v for a shared x_t."""
    return math.sqrt(1.0 - alpha_t) * x_t + math.sqrt(alpha_t) * v


def v_to_x0(x_t: torch.Tensor, v: torch.Tensor, alpha_t: float) -> torch.Tensor:
    """The clean latent a v-prediction stands for (same source): x̂_0 = √ᾱ_t x_t − √(1−ᾱ_t) v."""
    return math.sqrt(alpha_t) * x_t - math.sqrt(1.0 - alpha_t) * v


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, alpha_t: float, alpha_prev: float) -> torch.Tensor:
    """Deterministic DDIM step (η = 0; InstructEdit Eq. 2):
    x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1−ᾱ_{t−1}) ε."""
    return math.sqrt(alpha_prev) * predict_x0(x_t, eps, alpha_t) + math.sqrt(1.0 - alpha_prev) * eps


def ddim_sigma(alpha_t: float, alpha_prev: float, eta: float) -> float:
    """The noise scale of stochastic DDIM (DDIM Eq. 16): σ_t(η) = η √((1−ᾱ_{t−1})/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_{t−1});
    η = 0 is deterministic DDIM, η = 1 DDPM's posterior variance."""
    return eta * math.sqrt((1.0 - alpha_prev) / (1.0 - alpha_t)) * math.sqrt(1.0 - alpha_t / alpha_prev)


def stochastic_ddim_step(
    x_t: torch.Tensor, eps: torch.Tensor, alpha_t: float, alpha_prev: float, sigma: float, noise: torch.Tensor
) -> torch.Tensor:
    """DDIM Eq. 12 with σ_t > 0: x_{t−1} = √ᾱ_{t−1} x̂_0 + √(1−ᾱ_{t−1}−σ_t²) ε + σ_t z, z ~ N(0, I) given as
    ``noise`` (diffusers' ``DDIMScheduler.step`` with ``eta`` and ``variance_noise``)."""
    direction = math.sqrt(max(0.0, 1.0 - alpha_prev - sigma**2)) * eps
    return math.sqrt(alpha_prev) * predict_x0(x_t, eps, alpha_t) + direction + sigma * noise


def ddim_inverse_step(x_t: torch.Tensor, eps: torch.Tensor, alpha_t: float, alpha_next: float) -> torch.Tensor:
    """DDIM inversion step (InstructEdit Eq. 3), the same update run towards noise:
    x_{t+1} = √ᾱ_{t+1} x̂_0 + √(1−ᾱ_{t+1}) ε, with ε evaluated at t+1 (the usual approximation)."""
    return ddim_step(x_t, eps, alpha_t, alpha_next)


def noised(z0: torch.Tensor, noise: torch.Tensor, alpha: float) -> torch.Tensor:
    """The forward process q(x_t | x_0) with given noise (Ref-Diff Eq. 3, SDEdit's corruption):
    x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε."""
    return math.sqrt(alpha) * z0 + math.sqrt(1.0 - alpha) * noise


def blend_latents(edited: torch.Tensor, source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """DiffEdit mask guidance (InstructEdit Eq. 4): ŷ_t = M ⊙ y_t + (1 − M) ⊙ x_t."""
    return mask * edited + (1.0 - mask) * source


def downsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bring an (H, W) or (1, 1, H, W) {0,1} mask to latent size ``(h, w)`` as a (1, 1, h, w) {0,1} tensor.

    A latent cell is inside when any pixel it covers is inside (area average > 0): the edit region
    never shrinks, so the object is fully regenerated.
    """
    m = mask.float().reshape(1, 1, *mask.shape[-2:])
    return (F.interpolate(m, size=size, mode="area") > 0).float()


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, guidance: float) -> torch.Tensor:
    """Classifier-free guidance: ε = ε_u + w (ε_c − ε_u)."""
    return eps_uncond + guidance * (eps_cond - eps_uncond)


@dataclass(frozen=True)
class Schedule:
    """The timesteps of a partial DDIM trajectory and the ᾱ before and after each step.

    ``timesteps`` are descending (denoising order); step k takes x at ``alphas[k]`` (ᾱ of timesteps[k])
    to ``alphas_prev[k]``. Inversion walks the same pairs backwards.
    """

    timesteps: tuple[int, ...]
    alphas: tuple[float, ...]
    alphas_prev: tuple[float, ...]


def encode_steps(total_steps: int, ratio: float) -> int:
    """Number of DDIM steps for encoding ratio r: ⌈r·T⌉ (at least 1)."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"encoding ratio must be in (0, 1], got {ratio}")
    return max(1, math.ceil(ratio * total_steps - 1e-9))


def ddim_schedule(
    alphas_cumprod: torch.Tensor,
    *,
    steps: int,
    ratio: float,
    num_train_timesteps: int = 1000,
    steps_offset: int = 1,
    final_alpha: float | None = None,
) -> Schedule:
    """The last ⌈r·T⌉ steps of a T-step DDIM schedule ("leading" spacing, as diffusers' DDIMScheduler).

    ``final_alpha`` is ᾱ after the last step (ᾱ_0 when ``set_alpha_to_one`` is False, 1.0 otherwise).
    """
    step_ratio = num_train_timesteps // steps
    all_t = [i * step_ratio + steps_offset for i in range(steps)][::-1]
    if all_t[0] >= len(alphas_cumprod):
        raise ValueError(f"{steps} DDIM steps start at timestep {all_t[0]}, past the {len(alphas_cumprod)} the model was "
                         f"trained with; use at most {len(alphas_cumprod) - steps_offset}")
    n = encode_steps(steps, ratio)
    ts = all_t[steps - n :]
    final = float(alphas_cumprod[0]) if final_alpha is None else final_alpha
    alphas = tuple(float(alphas_cumprod[t]) for t in ts)
    prev = tuple(float(alphas_cumprod[t - step_ratio]) if t - step_ratio >= 0 else final for t in ts)
    return Schedule(timesteps=tuple(ts), alphas=alphas, alphas_prev=prev)


def sample(
    x: torch.Tensor,
    schedule: Schedule,
    eps: Callable[[torch.Tensor, int], torch.Tensor],
    after_step: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
    *,
    eta: float = 0.0,
    noise: Callable[[int], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The DDIM sampling loop every editor shares (DDIM Eq. 12; deterministic, σ = 0, by default): for each step
    k, ``x = ddim_step(x, eps(x, t_k), ᾱ_k, ᾱ_prev_k)``, then ``after_step(k, x)`` when given (mask blending of
    DiffEdit Eq. 4 and SDEdit, progress). ``eps`` is the editor's guided noise prediction (its CFG variant).
    With ``eta`` > 0 each step is :func:`stochastic_ddim_step` with σ = :func:`ddim_sigma` and z = ``noise(k)``."""
    if eta > 0.0 and noise is None:
        raise ValueError("stochastic DDIM (eta > 0) needs a noise source")
    for k, t in enumerate(schedule.timesteps):
        a, a_prev = schedule.alphas[k], schedule.alphas_prev[k]
        if eta > 0.0:
            assert noise is not None
            x = stochastic_ddim_step(x, eps(x, t), a, a_prev, ddim_sigma(a, a_prev, eta), noise(k))
        else:
            x = ddim_step(x, eps(x, t), a, a_prev)
        if after_step is not None:
            x = after_step(k, x)
    return x
