"""The architecture of an original-layout checkpoint from its tensor shapes alone: UNet, VAE, text encoder."""

from __future__ import annotations

import inspect
import re
from typing import Any, Iterable, Mapping

from refedit.pipeline.checkpoints.files import CLIP_PREFIX, OPEN_CLIP_PREFIX, Shapes


def strip_prefix(shapes: Shapes, prefix: str) -> dict[str, tuple[int, ...]]:
    return {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)}


def _indices(shapes: Shapes, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m[1]) for k in shapes if (m := rx.match(k))})


def infer_unet(shapes: Shapes) -> dict[str, Any]:
    """A diffusers ``UNet2DConditionModel`` config from an LDM UNet's tensor shapes (keys without the
    ``model.diffusion_model.`` prefix): everything the weights determine; the rest is left to the defaults."""
    s = shapes
    conv_in = s["input_blocks.0.0.weight"]
    widths: list[list[int]] = [[]]
    attends: list[list[bool]] = [[]]
    for b in _indices(s, r"input_blocks\.(\d+)\.")[1:]:
        if f"input_blocks.{b}.0.op.weight" in s:
            widths.append([])
            attends.append([])
            continue
        widths[-1].append(s[f"input_blocks.{b}.0.out_layers.3.weight"][0])
        attends[-1].append(f"input_blocks.{b}.1.proj_in.weight" in s)
    layers = len(widths[0])
    if not layers or any(len(w) != layers for w in widths):
        raise ValueError(f"uneven encoder levels {[len(w) for w in widths]}")
    n_out = len(_indices(s, r"output_blocks\.(\d+)\."))
    up_attends = [any(f"output_blocks.{(layers + 1) * i + j}.1.proj_in.weight" in s for j in range(layers + 1))
                  for i in range(n_out // (layers + 1))]  # fmt: skip
    proj = [v for k, v in s.items() if k.endswith(".proj_in.weight")]
    cross = [v[1] for k, v in s.items() if k.endswith("attn2.to_k.weight")]
    depth = []
    for level, attn in enumerate(attends):
        first = (layers + 1) * level + 1
        depth.append(len(_indices(s, rf"input_blocks\.{first}\.1\.transformer_blocks\.(\d+)\.")) if any(attn) else 1)
    width0 = conv_in[0]
    config: dict[str, Any] = {
        "in_channels": conv_in[1],
        "out_channels": s["out.2.weight"][0],
        "block_out_channels": [w[0] for w in widths],
        "layers_per_block": layers,
        "down_block_types": ["CrossAttnDownBlock2D" if any(a) else "DownBlock2D" for a in attends],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in up_attends],
        "cross_attention_dim": cross[0] if cross else 1280,
        "use_linear_projection": bool(proj) and len(proj[0]) == 2,
        "transformer_layers_per_block": depth[0] if len(set(depth)) == 1 else depth,
        "mid_block_type": "UNetMidBlock2DCrossAttn" if "middle_block.1.proj_in.weight" in s else
                          "UNetMidBlock2D" if "middle_block.0.in_layers.0.weight" in s else None,  # fmt: skip
        "time_embedding_dim": None if s["time_embed.0.weight"][0] == 4 * width0 else s["time_embed.0.weight"][0],
        "addition_embed_type": "text_time" if "label_emb.0.0.weight" in s else None,
    }
    if config["addition_embed_type"]:  # SDXL: refused by the kind check; enough to build the model is enough here
        config["addition_time_embed_dim"] = 256
        config["projection_class_embeddings_input_dim"] = s["label_emb.0.0.weight"][1]
    return config


#: UNet config fields the weights determine (compared with the base model's)
UNET_SHAPE_KEYS = ("out_channels", "block_out_channels", "layers_per_block", "down_block_types", "up_block_types",
                   "cross_attention_dim", "use_linear_projection", "transformer_layers_per_block", "mid_block_type",
                   "time_embedding_dim", "addition_embed_type")  # fmt: skip


def infer_vae(shapes: Shapes) -> dict[str, Any]:
    """A diffusers ``AutoencoderKL`` config from an LDM autoencoder's tensor shapes (keys without the prefix)."""
    s = shapes
    levels = _indices(s, r"encoder\.down\.(\d+)\.")
    return {
        "in_channels": s["encoder.conv_in.weight"][1],
        "out_channels": s["decoder.conv_out.weight"][0],
        "block_out_channels": [s[f"encoder.down.{i}.block.0.conv2.weight"][0] for i in levels],
        "down_block_types": ["DownEncoderBlock2D"] * len(levels),
        "up_block_types": ["UpDecoderBlock2D"] * len(levels),
        "layers_per_block": len(_indices(s, r"encoder\.down\.0\.block\.(\d+)\.")),
        "latent_channels": s["decoder.conv_in.weight"][1],
        "mid_block_add_attention": "encoder.mid.attn_1.q.weight" in s,
        "use_quant_conv": "quant_conv.weight" in s,
        "use_post_quant_conv": "post_quant_conv.weight" in s,
    }


VAE_SHAPE_KEYS = ("in_channels", "out_channels", "block_out_channels", "layers_per_block", "latent_channels",
                  "mid_block_add_attention", "use_quant_conv", "use_post_quant_conv")  # fmt: skip


def infer_text(shapes: Shapes) -> tuple[dict[str, Any], str]:
    """A ``CLIPTextConfig``'s sizes and the family ("clip": SD 1.x's OpenAI CLIP, "open_clip": SD 2.x's
    OpenCLIP, of which SD uses the penultimate layer) from the text encoder's shapes (full key names)."""
    if any(k.startswith(CLIP_PREFIX) for k in shapes):
        s = {k.removeprefix("text_model."): v for k, v in strip_prefix(shapes, CLIP_PREFIX).items()}
        vocab, hidden = s["embeddings.token_embedding.weight"]
        return {
            "vocab_size": vocab, "hidden_size": hidden,
            "intermediate_size": s["encoder.layers.0.mlp.fc1.weight"][0],
            "num_hidden_layers": len(_indices(s, r"encoder\.layers\.(\d+)\.")),
            "max_position_embeddings": s["embeddings.position_embedding.weight"][0],
        }, "clip"  # fmt: skip
    s = strip_prefix(shapes, OPEN_CLIP_PREFIX)
    vocab, hidden = s["token_embedding.weight"]
    return {
        "vocab_size": vocab, "hidden_size": hidden,
        "intermediate_size": s["transformer.resblocks.0.mlp.c_fc.weight"][0],
        "num_hidden_layers": len(_indices(s, r"transformer\.resblocks\.(\d+)\.")) - 1,
        "max_position_embeddings": s["positional_embedding"][0],
    }, "open_clip"  # fmt: skip


TEXT_SHAPE_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "max_position_embeddings")


def class_defaults(cls: Any) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}  # fmt: skip


def normalised(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def shapes_agree(inferred: Mapping[str, Any], base: Mapping[str, Any] | None, keys: Iterable[str],
            defaults: Mapping[str, Any]) -> bool:  # fmt: skip
    """Whether ``base`` (a config.json) has the same shape-determined fields as ``inferred``."""
    if not base:
        return False
    levels = len(inferred.get("block_out_channels") or [1])
    for key in keys:
        a, b = inferred.get(key, defaults.get(key)), base.get(key, defaults.get(key))
        if key == "transformer_layers_per_block":
            a, b = ([x] * levels if isinstance(x, int) else x for x in (a, b))
        if normalised(a) != normalised(b):
            return False
    return True


