"""Every model call Ref-Diff makes, counted and timed with its input shapes (the benchmark replays them)."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")

#: the model calls Ref-Diff counts
KINDS = ("vae", "unet", "sd_text", "clip_text", "clip_image", "sam_embed", "sam_decode")


class CallLog:
    """``calls``: model -> number of calls; ``log``: (model, seconds, input shapes) per call, in order.
    On CUDA (``store.device``, read at call time) the device is synchronised around each call, so the
    seconds are the call's own."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.log: list[tuple[str, float, tuple[Any, ...]]] = []

    def __call__(self, model: str, shapes: tuple[Any, ...], fn: Callable[[], T]) -> T:
        """Run ``fn()`` as one call of ``model`` on inputs of ``shapes``."""
        import torch

        sync = self.store.device.type == "cuda"
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if sync:
            torch.cuda.synchronize()
        self.calls[model] += 1
        self.log.append((model, time.perf_counter() - t0, shapes))
        return out
