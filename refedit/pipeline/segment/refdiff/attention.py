"""Cross-attention capture from a diffusers UNet (Ref-Diff Eq. 4-5), the official way: an attention
processor installed with ``unet.set_attn_processor`` inside a context manager that restores the original
processors on exit (as diffusers' ``AttendExciteAttnProcessor`` + ``AttentionStore``), never a monkeypatch.

The capturing processor *is* diffusers' own :class:`~diffusers.models.attention_processor.AttnProcessor`
(a subclass that adds nothing to the computation): the probabilities recorded are the very tensor that
``Attention.get_attention_scores`` returns inside diffusers' forward and that the layer then multiplies with
the values, so a diffusers upgrade that changes the attention changes the capture with it, and one that stops
computing the probabilities explicitly fails loudly instead of capturing something else.

Layers are selected by the resolution of their query (number of query tokens == h·w), not by names, so the
same code works on SD 1.5 (cross-attention at latent/1, /2, /4 and /8) and on tiny test UNets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import AttnProcessor


class AttentionStore:
    """Head-averaged cross-attention probabilities, summed per query resolution (token count).

    ``maps(n)`` is the mean over every captured layer call with ``n`` query tokens: a (B, n, L) tensor
    (B = the kept batch entries, L = text tokens), float32 on the UNet's device.
    """

    def __init__(self) -> None:
        self._sum: dict[int, torch.Tensor] = {}
        self._count: dict[int, int] = defaultdict(int)

    def add(self, probs: torch.Tensor) -> None:
        n = probs.shape[1]
        p = probs.detach().float()
        self._sum[n] = p if n not in self._sum else self._sum[n] + p
        self._count[n] += 1

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Token counts (h·w) seen, ascending (coarsest first)."""
        return tuple(sorted(self._sum))

    def calls(self, tokens: int) -> int:
        return self._count.get(tokens, 0)

    def maps(self, tokens: int) -> torch.Tensor:
        if tokens not in self._sum:
            raise KeyError(f"no cross-attention captured with {tokens} query tokens (have {self.resolutions})")
        return self._sum[tokens] / self._count[tokens]

    def spatial(self, hw: tuple[int, int]) -> torch.Tensor:
        """The mean maps at resolution ``hw`` as (B, L, h, w)."""
        h, w = hw
        maps = self.maps(h * w)
        return maps.permute(0, 2, 1).reshape(-1, maps.shape[-1], h, w)


class _RecordingLayer:
    """A read-through view of an ``Attention`` layer: every attribute is the layer's own, and
    ``get_attention_scores`` (the layer's own method) also hands its result, the (B·heads, n, L)
    probabilities of Eq. 4, to ``record``."""

    def __init__(self, attn: Any, record: Callable[[torch.Tensor], None]) -> None:
        self._attn = attn
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._attn, name)

    def get_attention_scores(self, query: torch.Tensor, key: torch.Tensor,
                             attention_mask: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        probs = self._attn.get_attention_scores(query, key, attention_mask)
        self._record(probs)
        return probs


class CaptureAttnProcessor(AttnProcessor):
    """diffusers' ``AttnProcessor`` that records what it computes. Cross-attention calls
    (``encoder_hidden_states`` given) whose query has a token count in ``tokens`` (or any, when ``tokens`` is
    None) run diffusers' ``AttnProcessor.__call__`` on a view of the layer that records the probabilities;
    the head average of the batch entries ``keep`` goes to ``store``. Every other call is delegated to the
    layer's ``original`` processor unchanged."""

    def __init__(self, store: AttentionStore, original: Any, tokens: set[int] | None,
                 keep: Sequence[int] | None) -> None:  # fmt: skip
        super().__init__()
        self.store = store
        self.original = original
        self.tokens = tokens
        self.keep = None if keep is None else list(keep)

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:  # fmt: skip
        if not self._wanted(hidden_states, encoder_hidden_states):
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        seen: list[torch.Tensor] = []
        out = super().__call__(_RecordingLayer(attn, seen.append), hidden_states, encoder_hidden_states,
                               attention_mask, temb, *args, **kwargs)  # fmt: skip
        if len(seen) != 1:
            raise RuntimeError(f"diffusers' AttnProcessor called get_attention_scores {len(seen)} times, not once: "
                               "this diffusers version computes attention differently; update the capture")
        probs = seen[0]  # (B·heads, n, L), Eq. 4
        per_head = probs.reshape(-1, attn.heads, probs.shape[1], probs.shape[2])
        if self.keep is not None:
            per_head = per_head[self.keep]
        self.store.add(per_head.mean(dim=1))  # head average (Prompt-to-Prompt / Ref-Diff ā)
        return out

    def _wanted(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None) -> bool:
        if encoder_hidden_states is None:
            return False
        shape = hidden_states.shape
        n_query = shape[1] if hidden_states.ndim == 3 else shape[2] * shape[3]
        return self.tokens is None or n_query in self.tokens


@contextmanager
def capture_attention(
    unet: Any,
    resolution_hw: tuple[int, int] | Sequence[tuple[int, int]] | None = None,
    *,
    keep: Sequence[int] | None = None,
) -> Iterator[AttentionStore]:
    """Record cross-attention probabilities of ``unet`` at query resolution ``resolution_hw`` ((h, w), a
    list of them, or None for every resolution) while inside the block.

    ``keep`` selects batch entries to store: with classifier-free guidance the batch is [uncond, cond]
    and ``keep=(1,)`` stores only the conditional half. The original processors are restored on exit,
    also when the block raises. The UNet's output is unchanged up to rounding (captured layers compute
    attention in diffusers' explicit form instead of its fused ``scaled_dot_product_attention``)."""
    if resolution_hw is None:
        tokens = None
    elif len(resolution_hw) == 2 and all(isinstance(v, int) for v in resolution_hw):
        tokens = {int(resolution_hw[0]) * int(resolution_hw[1])}  # type: ignore[index]
    else:
        tokens = {int(h) * int(w) for h, w in resolution_hw}  # type: ignore[misc]
    originals = dict(unet.attn_processors)
    store = AttentionStore()
    unet.set_attn_processor({name: CaptureAttnProcessor(store, proc, tokens, keep) for name, proc in originals.items()})
    try:
        yield store
    finally:
        unet.set_attn_processor(originals)


def normalize_attention(maps: torch.Tensor, image_hw: tuple[int, int], eps: float = 1e-8) -> torch.Tensor:
    """Ref-Diff Eq. 5: c = φ_{w×h→W×H}((ā_k − min ā_k) / (max ā_k − min ā_k + ε)).

    ``maps``: (h, w) or (..., h, w) attention maps; each map is min-max normalised to [0, 1] on its own,
    then bilinearly resized to ``image_hw`` = (H, W). Returns float32 of shape (..., H, W)."""
    m = maps.float()
    lead = m.shape[:-2]
    flat = m.reshape(-1, *m.shape[-2:])
    lo = flat.amin(dim=(-2, -1), keepdim=True)
    hi = flat.amax(dim=(-2, -1), keepdim=True)
    norm = (flat - lo) / (hi - lo + eps)
    out = F.interpolate(norm[:, None], size=tuple(image_hw), mode="bilinear", align_corners=False)[:, 0]
    return out.clamp(0.0, 1.0).reshape(*lead, *image_hw)
