"""The models' text inputs, made once per text and kept for the next photo.

A batch edits many photos with one instruction, and every ``segment()`` tokenizes the same prompt for the
detector, CLIP's attribute prompts and SAM 3's text: a transformers processor's Python (merging its keyword
arguments, building a ``BatchEncoding``) takes ~1.2 ms a call on one CPU core, more than a tiny model's call and
as much as the post-processing of GroundingDINO's 900 boxes on a GPU. Tokens depend on the text and the tokenizer
alone, so they are kept per tokenizer, device and arguments (the last :data:`KEPT`), already on the device.

The tensors handed out are shared between calls: callers pass them to a model, never change them in place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping

import torch

#: how many texts are kept (each a few hundred bytes of token ids)
KEPT = 64

#: (id(owner), device, key) -> (owner, kept alive so that its id is not reused, the inputs on the device)
_made: OrderedDict[tuple[int, str, Hashable], tuple[object, dict[str, torch.Tensor]]] = OrderedDict()
_lock = threading.Lock()


def remember(owner: object, device: torch.device | str, key: Hashable,
             make: Callable[[], Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:  # fmt: skip
    """``make()``'s tensors moved to ``device``, made once per ``owner`` (a tokenizer or processor), device and
    ``key`` among the last :data:`KEPT`."""
    slot = (id(owner), str(device), key)
    with _lock:
        hit = _made.get(slot)
        if hit is not None and hit[0] is owner:
            _made.move_to_end(slot)
            return hit[1]
    value = {name: tensor.to(device) for name, tensor in make().items()}
    with _lock:
        _made[slot] = (owner, value)
        _made.move_to_end(slot)
        while len(_made) > KEPT:
            _made.popitem(last=False)
    return value


def _hashable(value: Any) -> Hashable:
    return tuple(_hashable(v) for v in value) if isinstance(value, (list, tuple)) else value


def text_inputs(owner: Any, device: torch.device | str, **text: Any) -> dict[str, torch.Tensor]:
    """``owner(return_tensors="pt", **text)`` (a processor's or tokenizer's text inputs) on ``device``, once per
    text (:func:`remember`)."""
    key = tuple(sorted((name, _hashable(value)) for name, value in text.items()))
    return remember(owner, device, key, lambda: owner(return_tensors="pt", **text))


def forget() -> None:
    """Drop every kept text (tests; a process that swaps tokenizers needs nothing: the key holds the tokenizer)."""
    with _lock:
        _made.clear()
