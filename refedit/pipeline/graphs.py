"""CUDA graphs for the UNet: capture one call per input signature, then replay it.

On a fast GPU a batch-1 SD 1.5 UNet call at 64x64 latents is bound by Python launching its ~1000 kernels, not by
the GPU (34 ms per call on an H100, ``benchmarks/results/gpu-h100.md``). A CUDA graph launches all of them at once.
The graph reads its inputs from fixed buffers and writes its output to a fixed buffer: each call copies the inputs
in, replays, and returns a copy of the output, so results are those of the eager UNet (same kernels, same order).

A graph stands for exactly the module it captured, so :class:`GraphedUNet` runs the UNet eagerly whenever that may
have changed: other attention processors (Ref-Diff's attention capture swaps them in for a while), weights at other
addresses (an offload moved them), a CPU tensor, or gradients wanted. Graphs are kept per input signature (shapes
and dtypes: the inversion's batch of 1 and the guided batch of 2 make two). A signature whose capture fails runs
eagerly from then on, with a one-line warning.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch

from refedit.errors import RefEditWarning


@dataclass
class _Graph:
    graph: Any
    sample: torch.Tensor
    timestep: torch.Tensor
    text: torch.Tensor
    out: torch.Tensor


def signature(sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> tuple[Any, ...]:
    """What a captured graph is specific to: the inputs' shapes, dtypes and device."""
    return (tuple(sample.shape), sample.dtype, tuple(timestep.shape), timestep.dtype, tuple(text.shape), text.dtype,
            str(sample.device))  # fmt: skip


class GraphedUNet:
    """Replays CUDA graphs of ``unet(sample, timestep, encoder_hidden_states=text).sample``."""

    def __init__(self, unet: Any, warmup: int = 2) -> None:
        self.unet = unet
        self.warmup = warmup
        self.graphs: dict[tuple[Any, ...], _Graph] = {}
        self.failed: set[tuple[Any, ...]] = set()  # signatures whose capture failed: eager from then on
        self.captures = 0
        self._pool: Any = None  # one memory pool for all of them: they never run at the same time
        # one call at a time: a graph reads and writes fixed buffers (two threads editing with one store, e.g.
        # refedit.edit called from a thread pool, would otherwise overwrite each other's inputs)
        self._lock = threading.Lock()
        self._attention = next((m for m in unet.modules() if hasattr(m, "processor")), None)
        self._processor = self._current_processor()
        self._weights = self._weights_at()

    def _current_processor(self) -> Any:
        return None if self._attention is None else self._attention.processor

    def _weights_at(self) -> int:
        p = next(self.unet.parameters(), None)
        return 0 if p is None else p.data_ptr()

    def usable(self, sample: torch.Tensor) -> bool:
        """Whether a graph may stand for the UNet now (else the caller runs it eagerly)."""
        if sample.device.type != "cuda" or torch.is_grad_enabled() or self._current_processor() is not self._processor:
            return False
        if self._weights_at() != self._weights:  # moved (offload): the graphs point at the old addresses
            self.graphs.clear()
            self._weights = self._weights_at()
        return True

    def eager(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states=text).sample

    def __call__(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        if not self.usable(sample):
            return self.eager(sample, timestep, text)
        with self._lock:
            return self._replay(sample, timestep, text)

    def _replay(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        key = signature(sample, timestep, text)
        if key in self.failed:
            return self.eager(sample, timestep, text)
        g = self.graphs.get(key)
        if g is None:
            try:
                g = self.graphs[key] = self._capture(sample, timestep, text)
            except RuntimeError as e:  # a kernel or library that cannot be captured: this signature runs eagerly
                self.failed.add(key)
                warnings.warn(f"CUDA graph capture of the UNet failed ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                              "running it eagerly", RefEditWarning, stacklevel=3)  # fmt: skip
                return self.eager(sample, timestep, text)
        g.sample.copy_(sample)
        g.timestep.copy_(timestep)
        g.text.copy_(text)
        g.graph.replay()
        return g.out.clone()

    def _capture(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor) -> _Graph:
        """Warm up on a side stream (cuDNN/cuBLAS choose their kernels), then capture one call."""
        s, t, c = sample.clone(), timestep.clone(), text.clone()
        side = torch.cuda.Stream(device=sample.device)
        side.wait_stream(torch.cuda.current_stream(sample.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.eager(s, t, c)
        torch.cuda.current_stream(sample.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        with torch.cuda.graph(graph, pool=self._pool):
            out = self.eager(s, t, c)
        self.captures += 1
        return _Graph(graph, s, t, c, out)


def graphed_call(store: Any, model_id: str, unet: Any) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The store's one :class:`GraphedUNet` for ``model_id``'s UNet (made on first use)."""
    return store.cached(("cuda-graphs", model_id, id(unet)), lambda: GraphedUNet(unet))
