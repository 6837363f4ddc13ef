"""Limits every Stable Diffusion based stage shares (light: the command line checks options against them)."""

from __future__ import annotations

#: DDIM steps T are bounded by the diffusion's training steps (1000 for every SD 1.x/2.x scheduler):
#: beyond it every step lands on the same timestep and an edit runs for hours
MAX_STEPS = 1000
#: working resolutions from SD's smallest sensible size to well past what VAE tiling is for
MIN_RESOLUTION, MAX_RESOLUTION = 64, 4096
