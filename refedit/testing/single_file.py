"""Original-layout (CompVis/LDM) single-file checkpoints written from diffusers folders, for offline tests.

Research editors (InstructPix2Pix, MagicBrush, iEdit, ReferDiffusion) ship one ``.ckpt`` / ``.safetensors`` file in
the layout of the original latent-diffusion code: ``model.diffusion_model.*`` (the UNet), ``first_stage_model.*``
(the VAE), ``cond_stage_model.transformer.*`` (the CLIP text encoder), optionally ``model_ema.*`` (the UNet's EMA
copy, its parameter names with the dots removed). The key conversion here is written independently of diffusers'
own (which goes the other way), so a test that loads these files through ``from_single_file`` checks both.

Also a tiny LoRA adapter for a UNet and a text encoder in the diffusers/PEFT key format
(``unet.<module>.lora_A.weight`` ...), written without peft.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import torch

__all__ = ["UNET_PREFIX", "VAE_PREFIX", "TEXT_PREFIX", "OPEN_CLIP_PREFIX", "unet_to_ldm", "vae_to_ldm", "text_to_ldm",
           "text_to_open_clip", "ema_key", "write_single_file", "write_lora"]  # fmt: skip

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."
OPEN_CLIP_PREFIX = "cond_stage_model.model."

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
           "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}  # fmt: skip
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _sub(rest: str, table: Mapping[str, str]) -> str:
    """``rest`` ("norm1.weight") with its leading module name replaced through ``table``."""
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def unet_to_ldm(state: Mapping[str, torch.Tensor], layers_per_block: int) -> dict[str, torch.Tensor]:
    """A diffusers ``UNet2DConditionModel`` state dict in LDM ``UNetModel`` names (without the prefix).

    LDM numbers the encoder's blocks in one list ``input_blocks`` (the conv_in, then per level
    ``layers_per_block`` [resnet, attention] pairs and a downsampler) and the decoder's in ``output_blocks``
    (per level ``layers_per_block + 1`` pairs, the last with the upsampler)."""
    n = layers_per_block
    out: dict[str, torch.Tensor] = {}
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}  # fmt: skip
    up_has_attention = {int(m.group(1)) for k in state if (m := re.match(r"up_blocks\.(\d+)\.attentions\.", k))}
    for key, value in state.items():
        if (m := re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key)) is not None:
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            block = (n + 1) * i + j + 1
            sub = f"0.{_sub(rest, _RESNET)}" if kind == "resnets" else f"1.{rest}"
            new = f"input_blocks.{block}.{sub}"
        elif (m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key)) is not None:
            new = f"input_blocks.{(n + 1) * (int(m[1]) + 1)}.0.op.{m[2]}"
        elif (m := re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key)) is not None:
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            block = (n + 1) * i + j
            sub = f"0.{_sub(rest, _RESNET)}" if kind == "resnets" else f"1.{rest}"
            new = f"output_blocks.{block}.{sub}"
        elif (m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key)) is not None:
            i = int(m[1])
            new = f"output_blocks.{(n + 1) * i + n}.{2 if i in up_has_attention else 1}.conv.{m[2]}"
        elif (m := re.match(r"mid_block\.resnets\.(\d+)\.(.+)", key)) is not None:
            new = f"middle_block.{2 * int(m[1])}.{_sub(m[2], _RESNET)}"
        elif (m := re.match(r"mid_block\.attentions\.0\.(.+)", key)) is not None:
            new = f"middle_block.1.{m[1]}"
        else:
            module, _, param = key.rpartition(".")
            if module not in fixed:
                raise KeyError(f"no LDM name for UNet parameter {key!r}")
            new = f"{fixed[module]}.{param}"
        out[new] = value
    return out


def vae_to_ldm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A diffusers ``AutoencoderKL`` state dict in LDM ``AutoencoderKL`` names (without the prefix); attention
    projections become 1x1 convolutions, as the original code stores them."""
    levels = 1 + max(int(m[1]) for k in state if (m := re.match(r"decoder\.up_blocks\.(\d+)\.", k)))
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new = key
        if (m := re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key)) is not None:
            level = int(m[3]) if m[2] == "down" else levels - 1 - int(m[3])
            new = f"{m[1]}.{m[2]}.{level}.block.{m[4]}.{m[5].replace('conv_shortcut', 'nin_shortcut')}"
        elif (m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.+)", key)) is not None:
            new = f"encoder.down.{m[1]}.downsample.{m[2]}"
        elif (m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", key)) is not None:
            new = f"decoder.up.{levels - 1 - int(m[1])}.upsample.{m[2]}"
        elif (m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key)) is not None:
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif (m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key)) is not None:
            new = f"{m[1]}.mid.attn_1.{_sub(m[2], _VAE_ATTN)}"
            if value.ndim == 2:
                value = value[:, :, None, None]
        elif (m := re.match(r"(encoder|decoder)\.conv_norm_out\.(.+)", key)) is not None:
            new = f"{m[1]}.norm_out.{m[2]}"
        out[new] = value
    return out


def text_to_ldm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers ``CLIPTextModel`` state dict in the names ``FrozenCLIPEmbedder`` saves (without the
    prefix): the Hugging Face model under ``text_model.`` (transformers 5 flattened that level away)."""
    return {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in state.items()
            if not k.endswith("position_ids")}  # fmt: skip


def text_to_open_clip(state: Mapping[str, torch.Tensor], extra_layers: int = 1) -> dict[str, torch.Tensor]:
    """A ``CLIPTextModel`` state dict in OpenCLIP's names, as SD 2.x's ``FrozenOpenCLIPEmbedder`` saves it (without
    the ``cond_stage_model.model.`` prefix): fused q/k/v ``in_proj`` weights, ``resblocks``, ``ln_final``, a
    ``text_projection``, and ``extra_layers`` more blocks after the last (SD 2.x reads the penultimate layer's
    output, so the last block is unused; its weights here are the last real block's)."""
    s = {k.removeprefix("text_model."): v for k, v in state.items() if not k.endswith("position_ids")}
    hidden = s["embeddings.token_embedding.weight"].shape[1]
    out = {"token_embedding.weight": s["embeddings.token_embedding.weight"],
           "positional_embedding": s["embeddings.position_embedding.weight"],
           "ln_final.weight": s["final_layer_norm.weight"], "ln_final.bias": s["final_layer_norm.bias"],
           "text_projection": torch.eye(hidden)}  # fmt: skip
    layers = sorted({int(m[1]) for k in s if (m := re.match(r"encoder\.layers\.(\d+)\.", k))})
    for i in layers + [layers[-1]] * extra_layers:
        j = len([k for k in out if k.endswith(".attn.in_proj_weight")])
        src, dst = f"encoder.layers.{i}.", f"transformer.resblocks.{j}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat([s[src + f"self_attn.{n}_proj.{kind}"] for n in "qkv"])
            for ours, theirs in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"),
                                 ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):  # fmt: skip
                out[dst + f"{ours}.{kind}"] = s[src + f"{theirs}.{kind}"].clone()  # no shared storage on disk
    return out


def ema_key(ldm_unet_key: str) -> str:
    """The name LDM's ``LitEma`` gives the EMA copy of a UNet parameter: the dots of ``diffusion_model.…`` dropped."""
    return "model_ema." + ldm_unet_key.removeprefix("model.").replace(".", "")


def write_single_file(
    folder: str | Path,
    path: str | Path,
    *,
    parts: tuple[str, ...] = ("unet", "vae", "text_encoder"),
    ema: Mapping[str, torch.Tensor] | None = None,
    extra: Mapping[str, torch.Tensor] | None = None,
    dtype: torch.dtype | None = None,
    open_clip: bool = False,
) -> Path:
    """Write the diffusers SD folder ``folder`` as one original-layout checkpoint at ``path`` (``.safetensors``
    with safetensors; ``.ckpt`` as a torch pickle ``{"state_dict": ...}`` like Lightning's). ``parts`` picks the
    components stored (a UNet-only fine-tune leaves the VAE and text encoder to the base model); ``ema`` adds a
    ``model_ema.*`` copy of the given diffusers UNet state dict; ``extra`` adds tensors as they are; ``open_clip``
    stores the text encoder in SD 2.x's OpenCLIP layout (see :func:`text_to_open_clip`)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    folder, path = Path(folder), Path(path)
    state: dict[str, torch.Tensor] = {}
    if "unet" in parts:
        unet = UNet2DConditionModel.from_pretrained(folder / "unet")
        lpb = unet.config.layers_per_block
        state.update({UNET_PREFIX + k: v for k, v in unet_to_ldm(unet.state_dict(), lpb).items()})
        if ema is not None:
            state.update({ema_key(UNET_PREFIX + k): v for k, v in unet_to_ldm(ema, lpb).items()})
    if "vae" in parts:
        vae = AutoencoderKL.from_pretrained(folder / "vae")
        state.update({VAE_PREFIX + k: v for k, v in vae_to_ldm(vae.state_dict()).items()})
    if "text_encoder" in parts:
        text = CLIPTextModel.from_pretrained(folder / "text_encoder").state_dict()
        if open_clip:
            state.update({OPEN_CLIP_PREFIX + k: v for k, v in text_to_open_clip(text).items()})
        else:
            state.update({TEXT_PREFIX + k: v for k, v in text_to_ldm(text).items()})
    state.update(extra or {})
    cast = (lambda v: v.to(dtype) if v.is_floating_point() else v) if dtype is not None else (lambda v: v)
    state = {k: cast(v).contiguous() for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save({"state_dict": state, "global_step": 0}, path)
    return path


def write_lora(
    folder: str | Path, path: str | Path, *, rank: int = 4, seed: int = 0, text_encoder: bool = True, std: float = 0.5
) -> Path:
    """A random LoRA adapter for the tiny SD in ``folder``, in the diffusers/PEFT format diffusers' LoRA loader
    reads: ``unet.<module>.lora_A.weight`` (rank x in) and ``.lora_B.weight`` (out x rank) for every attention
    projection of the UNet, and ``text_encoder.<module>.lora_*`` for the text encoder's. Both factors are random
    (trained LoRAs start B at zero; a random B makes the effect visible)."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    g = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def add(prefix: str, model: Any, suffixes: tuple[str, ...]) -> None:
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name.endswith(suffixes):
                a = torch.randn(rank, module.in_features, generator=g) * std
                b = torch.randn(module.out_features, rank, generator=g) * std
                tensors[f"{prefix}.{name}.lora_A.weight"] = a
                tensors[f"{prefix}.{name}.lora_B.weight"] = b

    add("unet", UNet2DConditionModel.from_pretrained(Path(folder) / "unet"), ("to_q", "to_k", "to_v", "to_out.0"))
    if text_encoder:
        text = CLIPTextModel.from_pretrained(Path(folder) / "text_encoder")
        add("text_encoder", text, ("q_proj", "k_proj", "v_proj", "out_proj"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path
