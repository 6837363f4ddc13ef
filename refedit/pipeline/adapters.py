"""LoRA adapters on an editor's UNet and text encoder, through diffusers' own LoRA loading (PEFT backend).

``--lora FILE|ID[:SCALE]`` names an adapter: a ``.safetensors`` file (diffusers/PEFT keys ``unet.…lora_A.weight``,
or kohya/A1111 keys ``lora_unet_…``, which diffusers converts), a pickled ``.bin``/``.pt`` file (only with
``--trust-checkpoint``), or a folder / hub id holding ``pytorch_lora_weights.safetensors``. Unfused, each adapter is
a PEFT layer beside the base weight scaled by SCALE at every call; fused, W + SCALE·B·A is written into the weight
once and the adapter layers are removed (as fast as the bare model). Light at import: the parsing here is used by
the command line before torch is imported.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from refedit.errors import BadInput, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: the components an adapter can change, and the key prefix of each in a diffusers LoRA file
LORA_COMPONENTS = {"unet": "unet", "text_encoder": "text_encoder"}
#: how the tensors of an SD LoRA file are named: diffusers/PEFT (``unet.…``), kohya/A1111 (``lora_unet_…``)
LORA_KEY_PREFIXES = ("unet.", "text_encoder.", "lora_unet_", "lora_te_", "lora_te1_")
#: the file diffusers' ``save_lora_weights`` writes into a folder or hub repository
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class LoraSpec:
    """One ``--lora`` value: ``source`` (a file, folder or hub id) and its ``scale`` (1.0 unless ``:SCALE``)."""

    source: str
    scale: float = 1.0

    def __str__(self) -> str:
        return f"{self.source}:{self.scale:g}"


def parse_lora(text: str) -> LoraSpec:
    """``FILE|ID[:SCALE]`` as a :class:`LoraSpec`; a trailing ``:number`` is the scale, anything else is part of
    the name. Raises :class:`BadInput` for an empty name or a scale that is not a finite number."""
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"--lora {text!r} must be FILE|ID[:SCALE]")
    text = text.strip()
    head, sep, tail = text.rpartition(":")
    if sep and head and "/" not in tail and "\\" not in tail:
        try:
            scale = float(tail) if "_" not in tail else float("x")  # not Python's "1_0" (10)
        except ValueError:
            if Path(head).expanduser().is_file() and not Path(text).expanduser().exists():  # "lora.safetensors:abc"
                raise BadInput(f"--lora {text!r}: the scale after the last ':' must be a number, got {tail!r}") from None
            return LoraSpec(text)
        if not math.isfinite(scale):
            raise BadInput(f"--lora {text!r}: the scale must be a finite number, got {tail!r}")
        return LoraSpec(head, scale)
    return LoraSpec(text)


def parse_loras(value: object) -> tuple[LoraSpec, ...]:
    """The ``lora`` option's value (one string, or a list/tuple of them, as flags, ``-O`` and manifests give it)."""
    if value in (None, "", (), []):
        return ()
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None:
        raise BadInput(f"lora must be FILE|ID[:SCALE] or a list of them, got {value!r}")
    return tuple(parse_lora(str(v)) if not isinstance(v, LoraSpec) else v for v in items)


def adapters_digest(specs: Iterable[LoraSpec], fuse: bool) -> str:
    """A short stable name for one set of adapters (part of the ModelStore's cache key)."""
    text = "|".join(str(s) for s in specs) + (":fused" if fuse else "")
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def _file_of(source: str) -> Path | None:
    """The local file an adapter source names (a file, or a folder with diffusers' weight file), else None."""
    path = Path(source).expanduser()
    if path.is_file():
        return path
    if path.is_dir() and (path / LORA_WEIGHT_NAME).is_file():
        return path / LORA_WEIGHT_NAME
    return None


def check_lora(spec: LoraSpec, *, trusted: bool) -> None:
    """Preflight of one adapter, before any weight loads: a local file must exist, be readable as safetensors
    (header checked, so a truncated file is refused here) or be a pickle the user trusts."""
    from refedit.pipeline import checkpoints

    path = Path(spec.source).expanduser()
    if path.is_dir() and not (path / LORA_WEIGHT_NAME).is_file():
        raise ModelUnavailable(f"the LoRA folder {spec.source!r} has no {LORA_WEIGHT_NAME}")
    file = _file_of(spec.source)
    if file is None:
        if checkpoints.looks_like_file(spec.source) or not _is_hub_id(spec.source):
            raise ModelUnavailable(f"the LoRA file {spec.source!r} does not exist -- check the --lora path")
        from huggingface_hub import try_to_load_from_cache

        from refedit.pipeline.models import hub_reachable

        if isinstance(try_to_load_from_cache(spec.source, LORA_WEIGHT_NAME), str) or hub_reachable(timeout=1.0):
            return  # a hub id: diffusers reads it from the cache (or downloads it) when it loads
        raise ModelUnavailable(f"the LoRA adapter {spec.source!r} is no local file or folder, and as a hub id it is "
                               "not in the local cache and the hub cannot be reached")  # fmt: skip
    checkpoints.check_trusted(file, trusted, what="LoRA adapter")
    names = checkpoints.read_shapes(file, trusted=trusted)
    if not any(k.startswith(LORA_KEY_PREFIXES) for k in names):
        raise ModelUnavailable(
            f"{spec.source!r} is not a LoRA adapter for Stable Diffusion: none of its {len(names)} tensors is named "
            "for a UNet or text encoder (unet.*, text_encoder.*, lora_unet_*, lora_te_*)"
        )


def _is_hub_id(source: str) -> bool:
    from refedit.pipeline.models import is_hub_id

    return is_hub_id(source)


def lora_state(spec: LoraSpec, *, trusted: bool) -> tuple[dict[str, "torch.Tensor"], Any]:
    """The adapter's state dict in diffusers' names and its network alphas (kohya files carry them), through
    diffusers' ``StableDiffusionLoraLoaderMixin.lora_state_dict`` (which converts kohya/A1111 keys)."""
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    from refedit.pipeline import checkpoints

    file = _file_of(spec.source)
    try:
        if file is not None:
            checkpoints.check_trusted(file, trusted, what="LoRA adapter")
            loaded = StableDiffusionLoraLoaderMixin.lora_state_dict(checkpoints.load_tensors(file, trusted=trusted))
        else:  # a hub id: diffusers' weight file, from the cache (or the hub when it can be reached)
            loaded = StableDiffusionLoraLoaderMixin.lora_state_dict(spec.source, weight_name=LORA_WEIGHT_NAME,
                                                                    local_files_only=_offline())  # fmt: skip
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise ModelUnavailable(f"cannot read the LoRA adapter {spec.source!r}: {_first_line(err)}") from err
    return loaded[0], loaded[1]


def _offline() -> bool:
    from refedit.pipeline.models import hub_reachable

    return not hub_reachable(timeout=1.0)


def _first_line(err: BaseException) -> str:
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if len(line) <= 160 else line[:157] + "..."


def apply_loras(model: Any, component: str, specs: tuple[LoraSpec, ...], *, fuse: bool, trusted: bool) -> list[str]:
    """Load ``specs`` into ``model`` (the ``component`` "unet" or "text_encoder") as PEFT adapters, scaled by
    each spec's scale; ``fuse`` merges them into the weights and removes the adapter layers. Returns the names
    of the adapters that had weights for this component (an adapter may change only one of the two)."""
    from diffusers.loaders import StableDiffusionLoraLoaderMixin
    from diffusers.loaders.lora_base import (
        _remove_text_encoder_monkey_patch,
        fuse_text_encoder_lora,
        set_adapters_for_text_encoder,
    )

    prefix = LORA_COMPONENTS[component]
    names, scales = [], []
    for i, spec in enumerate(specs):
        state, alphas = lora_state(spec, trusted=trusted)
        if not any(k.startswith(prefix + ".") for k in state):
            continue
        name = f"refedit_{i}"
        try:
            if component == "unet":
                model.load_lora_adapter(state, prefix=prefix, network_alphas=alphas, adapter_name=name)
            else:
                StableDiffusionLoraLoaderMixin.load_lora_into_text_encoder(
                    state, alphas, model, prefix=prefix, adapter_name=name
                )
        except (ValueError, RuntimeError, KeyError) as err:
            raise ModelUnavailable(
                f"the LoRA adapter {spec.source!r} does not fit this {component.replace('_', ' ')}: "
                f"{_first_line(err)} (an adapter trained for another base model?)"
            ) from err
        names.append(name)
        scales.append(spec.scale)
    if not names:
        return names
    if component == "unet":
        model.set_adapters(names, weights=scales)
        if fuse:
            model.fuse_lora(lora_scale=1.0, adapter_names=names)
            model.unload_lora()
    else:
        set_adapters_for_text_encoder(names, model, scales)
        if fuse:
            fuse_text_encoder_lora(model, lora_scale=1.0, adapter_names=names)
            _remove_text_encoder_monkey_patch(model)
    return names


def adapter_records(specs: tuple[LoraSpec, ...], *, fuse: bool) -> list[dict[str, Any]]:
    """What the JSON record says about each adapter: its source, scale, whether fused, and for a local file its
    path and SHA-256 (read from refedit's hash index after the first time)."""
    from refedit.pipeline import checkpoints

    out = []
    for spec in specs:
        file = _file_of(spec.source)
        out.append({"source": spec.source, "scale": spec.scale, "fused": fuse,
                    "path": str(file.resolve()) if file else None,
                    "sha256": checkpoints.file_sha256(file) if file else None})  # fmt: skip
    return out
