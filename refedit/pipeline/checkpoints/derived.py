"""The diffusers config folder refedit derives from a single file (in its cache, named by the file's hash)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from refedit.errors import BadInput, ModelUnavailable
from refedit.pipeline.checkpoints.architecture import TEXT_SHAPE_KEYS, UNET_SHAPE_KEYS, VAE_SHAPE_KEYS, shapes_agree, class_defaults, normalised, strip_prefix, infer_text, infer_unet, infer_vae
from refedit.pipeline.checkpoints.files import CLIP_PREFIX, EMA_PREFIX, FORMAT_VERSION, OPEN_CLIP_PREFIX, Shapes, UNET_PREFIX, VAE_PREFIXES, cache_root, first_line, file_sha256, is_pickle, load_tensors, read_shapes


@dataclass(frozen=True)
class SingleFile:
    """One single-file checkpoint, ready to load: ``folder`` is the diffusers config folder refedit derived
    for it (in its cache, named after ``sha256``); ``parts`` the components the file holds (the others come
    from ``base``); ``sources`` says where each component's config came from."""

    path: Path
    sha256: str
    folder: Path
    base: str
    parts: tuple[str, ...]
    ema: bool
    original_config: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return "pickle" if is_pickle(self.path) else "safetensors"

    def record(self) -> dict[str, Any]:
        """What a JSON record says about the checkpoint that produced an edit."""
        return {"path": str(self.path), "sha256": self.sha256, "format": self.format,
                "weights": "ema" if self.ema else "non-ema", "original_config": self.original_config,
                "base": self.base, "from_base": [c for c in ("vae", "text_encoder") if c not in self.parts] +
                ["tokenizer", "scheduler"], "config_sources": dict(self.sources)}  # fmt: skip


#: the base model's files a derived config is made from
BASE_FILES = ("unet/config.json", "vae/config.json", "text_encoder/config.json", "scheduler/scheduler_config.json")


def sibling_config(path: Path) -> Path | None:
    """``FILE.yaml`` beside ``FILE.ckpt`` (the convention of the original repositories and web UIs)."""
    for suffix in (".yaml", ".yml"):
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise BadInput(f"cannot read the original config {str(path)!r}: {first_line(err)}") from None
    if not isinstance(data, dict) or not isinstance((data.get("model") or {}).get("params"), dict):
        raise BadInput(f"{str(path)!r} is not an original (LDM) model config: it has no model.params section")
    return data


def parts_of(shapes: Shapes) -> tuple[str, ...]:
    """The components a single file holds."""
    parts = ["unet"] if any(k.startswith(UNET_PREFIX) for k in shapes) else []
    if any(k.startswith(VAE_PREFIXES) and k.endswith("encoder.conv_in.weight") for k in shapes):
        parts.append("vae")
    if any(k.startswith((CLIP_PREFIX, OPEN_CLIP_PREFIX)) for k in shapes):
        parts.append("text_encoder")
    return tuple(parts)


def has_ema(shapes: Shapes) -> bool:
    """The file holds an EMA copy of every UNet parameter (LDM's ``LitEma`` names: dots removed)."""
    unet = [k for k in shapes if k.startswith(UNET_PREFIX)]
    return bool(unet) and all(ema_name(k) in shapes for k in unet)


def ema_name(unet_key: str) -> str:
    return EMA_PREFIX + unet_key.removeprefix("model.").replace(".", "")


def prepare(path: str | Path, *, base: str, base_config: Any, trusted: bool, original_config: str | None = None,
            global_step: int | None = None) -> SingleFile:  # fmt: skip
    """Check ``path`` and derive (once per file content, base and yaml; then read from the cache) the diffusers
    config folder ``from_single_file`` loads it with. ``base_config(filename)`` reads one JSON file of the base
    model (None when absent). Raises :class:`BadInput` for an untrusted pickle or an unreadable yaml, and
    :class:`ModelUnavailable` for a damaged file or one that is no Stable Diffusion checkpoint."""
    path = Path(path).expanduser().resolve()
    if is_pickle(path):  # one read gives the shapes and the training step (diffusers' SD 2.x rule reads it)
        state = load_tensors(path, trusted=trusted)
        shapes = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
        step = state.get("global_step")
        global_step = int(step) if isinstance(step, int) else global_step
    else:
        shapes = read_shapes(path, trusted=trusted)
    parts = parts_of(shapes)
    if "unet" not in parts:
        hint = " (it looks like a LoRA adapter: pass it with --lora)" if any("lora" in k for k in shapes) else ""
        raise ModelUnavailable(f"{str(path)!r} holds no Stable Diffusion UNet (no {UNET_PREFIX}* weights){hint}")
    yaml_path = Path(original_config).expanduser() if original_config else sibling_config(path)
    if original_config and yaml_path is not None and yaml_path.is_dir():
        raise BadInput(f"the original config {original_config!r} is a folder; give its .yaml file")
    try:
        yaml_text = yaml_path.read_text(encoding="utf-8") if yaml_path and yaml_path.is_file() else None
    except (OSError, UnicodeDecodeError) as err:  # a binary file given as the yaml: an internal error before
        raise BadInput(f"cannot read the original config {str(yaml_path)!r}: {first_line(err)}") from None
    if original_config and yaml_text is None:
        raise BadInput(f"the original config {original_config!r} does not exist")
    digest = file_sha256(path)
    base_files = {name: base_config(name) for name in BASE_FILES}  # the key changes when the base does
    key = hashlib.sha256(json.dumps([FORMAT_VERSION, base, base_files, yaml_text, global_step], sort_keys=True,
                                    default=str).encode()).hexdigest()[:8]  # fmt: skip
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:48]
    folder = cache_root() / f"{stem}-{digest[:16]}-{key}"
    meta = folder / "refedit.json"
    ema = has_ema(shapes)
    yaml_str = str(yaml_path) if yaml_text is not None else None
    if meta.is_file():
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))
            return SingleFile(path, digest, folder, base, parts, ema, yaml_str, saved.get("sources", {}))
        except ValueError:  # a damaged entry: derive it again
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    configs, sources = derive_configs(shapes, parts, base_config=base_files.get,
                                      original=_read_yaml(yaml_path) if yaml_text is not None else None,
                                      global_step=global_step)  # fmt: skip
    _write_folder(folder, configs, {"source": str(path), "sha256": digest, "base": base, "original_config": yaml_str,
                                    "sources": sources, "format_version": FORMAT_VERSION})  # fmt: skip
    return SingleFile(path, digest, folder, base, parts, ema, yaml_str, sources)


def derive_configs(shapes: Shapes, parts: tuple[str, ...], *, base_config: Any, original: dict[str, Any] | None,
                   global_step: int | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:  # fmt: skip
    """filename -> config dict of the diffusers folder for a single file, and component -> where its config came
    from ("original config", "base model (shapes agree)", "file shapes + SD defaults", "base model").
    ``base_config(filename)`` is one JSON file of the base model, or None."""
    try:
        unet = infer_unet(strip_prefix(shapes, UNET_PREFIX))
    except (KeyError, IndexError, ValueError) as err:
        raise ModelUnavailable(f"the file's UNet is not a Stable Diffusion UNet ({first_line(err)})") from err
    sources: dict[str, str] = {}
    configs = {"unet/config.json": _unet_config(unet, shapes, base_config("unet/config.json"), original, sources)}
    sd2 = bool(unet["use_linear_projection"])
    configs["vae/config.json"] = _vae_config(shapes, parts, base_config("vae/config.json"), original, sd2, sources)
    text = _text_config(shapes, parts, base_config("text_encoder/config.json"), sources)
    if text is not None:
        configs["text_encoder/config.json"] = text
    scheduler = dict(base_config("scheduler/scheduler_config.json") or {})
    agrees = sources["unet"] == "base model (shapes agree)"
    scheduler["prediction_type"], sources["prediction_type"] = _prediction(original, scheduler, agrees, sd2,
                                                                            unet["in_channels"], global_step)  # fmt: skip
    if original is not None:
        params = original["model"]["params"]
        for ours, theirs in (("beta_start", "linear_start"), ("beta_end", "linear_end"),
                             ("num_train_timesteps", "timesteps")):  # fmt: skip
            if theirs in params:
                scheduler[ours] = params[theirs]
    configs["scheduler/scheduler_config.json"] = scheduler
    sdxl = unet["addition_embed_type"] == "text_time" or any(k.startswith("conditioner.embedders.1.") for k in shapes)
    configs["model_index.json"] = {
        "_class_name": "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline",
        **({"text_encoder_2": ["transformers", "CLIPTextModelWithProjection"]} if sdxl else {}),
    }
    return configs, sources


def _unet_config(unet: dict[str, Any], shapes: Shapes, base: dict[str, Any] | None, original: dict[str, Any] | None,
                 sources: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """The UNet's config: the yaml's, else the base's when the shapes agree, else the shapes' with SD defaults
    (SD 1.x: 8 heads; SD 2.x, told by its linear projections: 64-channel heads, upcast attention)."""
    from diffusers import UNet2DConditionModel

    sd2 = bool(unet["use_linear_projection"])
    if original is not None:
        config, sources["unet"] = _from_original("unet", original, shapes, unet), "original config"
    elif shapes_agree(unet, base, UNET_SHAPE_KEYS, class_defaults(UNet2DConditionModel)):
        config, sources["unet"] = {**(base or {}), "in_channels": unet["in_channels"]}, "base model (shapes agree)"
    else:
        heads = [c // 64 for c in unet["block_out_channels"]] if sd2 else 8
        config = {**unet, "attention_head_dim": heads, "upcast_attention": sd2, "sample_size": 96 if sd2 else 64}
        sources["unet"] = "file shapes + SD defaults"
    return {**config, "_class_name": "UNet2DConditionModel"}


def _vae_config(shapes: Shapes, parts: tuple[str, ...], base: dict[str, Any] | None, original: dict[str, Any] | None,
                sd2: bool, sources: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """The VAE's config, chosen as the UNet's; the base's VAE when the file has none."""
    from diffusers import AutoencoderKL

    if "vae" not in parts:
        config, sources["vae"] = dict(base or {}), "base model"
    else:
        prefix = next(p for p in VAE_PREFIXES if any(k.startswith(p) for k in shapes))
        vae = infer_vae(strip_prefix(shapes, prefix))
        if original is not None:
            config, sources["vae"] = _from_original("vae", original, shapes, vae), "original config"
        elif shapes_agree(vae, base, VAE_SHAPE_KEYS, class_defaults(AutoencoderKL)):
            config, sources["vae"] = dict(base or {}), "base model (shapes agree)"
        else:
            config = {**vae, "scaling_factor": 0.18215, "sample_size": 768 if sd2 else 512}
            sources["vae"] = "file shapes + SD defaults"
    return {**config, "_class_name": "AutoencoderKL"}


def _text_config(shapes: Shapes, parts: tuple[str, ...], base: dict[str, Any] | None,
                 sources: dict[str, str]) -> dict[str, Any] | None:  # fmt: skip
    """The text encoder's config: the base's when the file has none or the sizes agree, else the sizes' with the
    CLIP family's defaults."""
    if "text_encoder" not in parts:
        sources["text_encoder"] = "base model"
        return dict(base) if base is not None else None
    text, family = infer_text(shapes)
    if shapes_agree(text, base, TEXT_SHAPE_KEYS, {}):
        sources["text_encoder"] = "base model (shapes agree)"
        return dict(base or {})
    sources["text_encoder"] = "file shapes + SD defaults"
    return _clip_text_config(text, family)


def _prediction(original: dict[str, Any] | None, base_scheduler: Mapping[str, Any], unet_agrees: bool, sd2: bool,
                in_channels: int, global_step: int | None) -> tuple[str, str]:  # fmt: skip
    """The UNet's prediction type and where it came from (see the module docstring)."""
    if original is not None:
        v = original["model"]["params"].get("parameterization") == "v"
        return ("v_prediction" if v else "epsilon"), "original config"
    if unet_agrees and base_scheduler:
        return str(base_scheduler.get("prediction_type") or "epsilon"), "base model (shapes agree)"
    if sd2 and in_channels == 4 and global_step != 875000:
        return "v_prediction", "SD 2.x default (diffusers' rule)"
    return "epsilon", "SD default"


def _from_original(component: str, original: dict[str, Any], shapes: Shapes,
                   inferred: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """diffusers' own mapping of an original yaml to a diffusers config, checked against the file's shapes."""
    import torch
    from diffusers.loaders.single_file_utils import (
        create_unet_diffusers_config_from_ldm,
        create_vae_diffusers_config_from_ldm,
    )

    meta = {k: torch.empty(v, device="meta") for k, v in shapes.items()}  # shapes only: nothing is read
    try:
        if component == "unet":
            config = create_unet_diffusers_config_from_ldm(original, meta)
            keys = ("in_channels", *UNET_SHAPE_KEYS)
        else:
            config = create_vae_diffusers_config_from_ldm(original, meta)
            keys = VAE_SHAPE_KEYS
    except (KeyError, TypeError, ValueError) as err:
        raise BadInput(f"the original config does not describe a Stable Diffusion {component}: "
                       f"{first_line(err)}") from None  # fmt: skip
    for key in keys:
        if key in config and key in inferred and normalised(config[key]) != normalised(inferred[key]):
            raise BadInput(f"the original config does not match the file: its {component} {key} is {config[key]!r}, "
                           f"the file's weights have {inferred[key]!r}")  # fmt: skip
    return {k: v for k, v in config.items() if v is not None or k in ("class_embed_type", "addition_embed_type")}


def _clip_text_config(sizes: Mapping[str, Any], family: str) -> dict[str, Any]:
    """A ``CLIPTextConfig`` dict with ``sizes`` and the family's defaults (heads of 64 channels; OpenAI CLIP's
    quick-GELU, OpenCLIP's GELU; CLIP's special token ids)."""
    from transformers import CLIPTextConfig

    config = CLIPTextConfig(**sizes, num_attention_heads=max(1, sizes["hidden_size"] // 64),
                            hidden_act="quick_gelu" if family == "clip" else "gelu",
                            projection_dim=sizes["hidden_size"])  # fmt: skip
    return {**config.to_dict(), "architectures": ["CLIPTextModel"]}


def _write_folder(folder: Path, configs: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any]) -> None:
    """Write the config folder atomically (a temporary sibling renamed into place), refedit.json last."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    for name, config in configs.items():
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(config, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    (tmp / "refedit.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    try:
        os.replace(tmp, folder)
    except OSError:  # another process wrote the same folder meanwhile: theirs is as good as ours
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _jsonable(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def read_derived(single: SingleFile, filename: str) -> dict[str, Any] | None:
    """One JSON file of the derived config folder (None when the folder has no such file)."""
    target = single.folder / filename
    return json.loads(target.read_text(encoding="utf-8")) if target.is_file() else None


