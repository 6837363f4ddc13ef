"""Counting real model calls in tests: a forward pre-hook on the module itself, never the stage's own counter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class UNetCall:
    """One UNet forward: its batch size and timestep."""

    batch: int
    timestep: int


@contextmanager
def record_unet_calls(unet: torch.nn.Module) -> Iterator[list[UNetCall]]:
    """Every forward of ``unet`` while inside the block, in order (the hook is removed on exit)."""
    calls: list[UNetCall] = []

    def pre(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        sample = args[0] if args else kwargs["sample"]
        t = args[1] if len(args) > 1 else kwargs["timestep"]
        calls.append(UNetCall(int(sample.shape[0]), int(torch.as_tensor(t).flatten()[0])))

    handle = unet.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


def ddim_timesteps(scheduler_config: Any, steps: int) -> list[int]:
    """diffusers' own T-step DDIM schedule (descending) for a checkpoint's scheduler config: the reference the
    editors' partial trajectories are checked against."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(steps)
    return [int(t) for t in scheduler.timesteps]
