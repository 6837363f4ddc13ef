"""Cross-attention capture from a diffusers UNet (Ref-Diff Eq. 4-5), the official way: an attention
processor installed with ``unet.set_attn_processor`` inside a context manager that restores the original
processors on exit (as diffusers' ``AttendExciteAttnProcessor`` + ``AttentionStore``), never a monkeypatch.

Layers are selected by the resolution of their query (number of query tokens == h·w), not by names, so the
same code works on SD 1.5 (cross-attention at latent/1, /2, /4 and /8) and on tiny test UNets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F


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
            raise KeyError(
                f"no cross-attention captured with {tokens} query tokens (have {self.resolutions})"
            )
        return self._sum[tokens] / self._count[tokens]

    def spatial(self, hw: tuple[int, int]) -> torch.Tensor:
        """The mean maps at resolution ``hw`` as (B, L, h, w)."""
        h, w = hw
        return (
            self.maps(h * w)
            .permute(0, 2, 1)
            .reshape(-1, self.maps(h * w).shape[-1], h, w)
        )


class CaptureAttnProcessor:
    """Wraps a layer's original processor. Cross-attention calls (``encoder_hidden_states`` given) whose
    query has a token count in ``tokens`` (or any, when ``tokens`` is None) are computed explicitly, as
    diffusers' ``AttnProcessor`` does (``to_q/k/v``, ``head_to_batch_dim``, ``get_attention_scores``), and
    the head-averaged probabilities of the batch entries ``keep`` go to ``store``; every other call is
    delegated to the original processor unchanged."""

    def __init__(
        self,
        store: AttentionStore,
        original: Any,
        tokens: set[int] | None,
        keep: Sequence[int] | None,
    ) -> None:
        self.store = store
        self.original = original
        self.tokens = tokens
        self.keep = None if keep is None else list(keep)

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        n_query = (
            hidden_states.shape[1]
            if hidden_states.ndim == 3
            else hidden_states.shape[2] * hidden_states.shape[3]
        )
        if encoder_hidden_states is None or (
            self.tokens is not None and n_query not in self.tokens
        ):
            return self.original(
                attn,
                hidden_states,
                encoder_hidden_states,
                attention_mask,
                temb,
                *args,
                **kwargs,
            )
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(
                batch_size, channel, height * width
            ).transpose(1, 2)
        batch_size, sequence_length, _ = encoder_hidden_states.shape
        attention_mask = attn.prepare_attention_mask(
            attention_mask, sequence_length, batch_size
        )
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(
                1, 2
            )
        query = attn.to_q(hidden_states)
        if attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(
                encoder_hidden_states
            )
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        query = attn.head_to_batch_dim(query)
        key = attn.head_to_batch_dim(key)
        value = attn.head_to_batch_dim(value)
        probs = attn.get_attention_scores(
            query, key, attention_mask
        )  # (B·heads, n, L), Eq. 4
        per_head = probs.reshape(batch_size, attn.heads, probs.shape[1], probs.shape[2])
        if self.keep is not None:
            per_head = per_head[self.keep]
        self.store.add(
            per_head.mean(dim=1)
        )  # head average (Prompt-to-Prompt / Ref-Diff ā)
        hidden_states = torch.bmm(probs, value)
        hidden_states = attn.batch_to_head_dim(hidden_states)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(
                batch_size, channel, height, width
            )
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


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
    also when the block raises. The UNet's output is unchanged (same computation, explicit form)."""
    if resolution_hw is None:
        tokens = None
    elif len(resolution_hw) == 2 and all(isinstance(v, int) for v in resolution_hw):
        tokens = {int(resolution_hw[0]) * int(resolution_hw[1])}  # type: ignore[index]
    else:
        tokens = {int(h) * int(w) for h, w in resolution_hw}  # type: ignore[misc]
    originals = dict(unet.attn_processors)
    store = AttentionStore()
    unet.set_attn_processor(
        {
            name: CaptureAttnProcessor(store, proc, tokens, keep)
            for name, proc in originals.items()
        }
    )
    try:
        yield store
    finally:
        unet.set_attn_processor(originals)


def normalize_attention(
    maps: torch.Tensor, image_hw: tuple[int, int], eps: float = 1e-8
) -> torch.Tensor:
    """Ref-Diff Eq. 5: c = φ_{w×h→W×H}((ā_k − min ā_k) / (max ā_k − min ā_k + ε)).

    ``maps``: (h, w) or (..., h, w) attention maps; each map is min-max normalised to [0, 1] on its own,
    then bilinearly resized to ``image_hw`` = (H, W). Returns float32 of shape (..., H, W)."""
    m = maps.float()
    lead = m.shape[:-2]
    flat = m.reshape(-1, *m.shape[-2:])
    lo = flat.amin(dim=(-2, -1), keepdim=True)
    hi = flat.amax(dim=(-2, -1), keepdim=True)
    norm = (flat - lo) / (hi - lo + eps)
    out = F.interpolate(
        norm[:, None], size=tuple(image_hw), mode="bilinear", align_corners=False
    )[:, 0]
    return out.clamp(0.0, 1.0).reshape(*lead, *image_hw)
