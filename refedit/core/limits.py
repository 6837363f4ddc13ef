"""Limits every Stable Diffusion based stage shares (light: the command line checks options against them)."""

from __future__ import annotations

#: DDIM steps T are bounded by the diffusion's training steps (1000 for every SD 1.x/2.x scheduler): beyond it every
#: step lands on the same timestep and an edit runs for hours; and SD's "leading" spacing with its offset of 1 puts
#: T = 1000 steps at timesteps 1..1000, past the last trained one (999), so 999 is the most
MAX_STEPS = 999
#: working resolutions from SD's smallest sensible size to well past what VAE tiling is for
MIN_RESOLUTION, MAX_RESOLUTION = 64, 4096
