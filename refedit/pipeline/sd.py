"""Stable Diffusion components from the ModelStore, and the small operations stages share on them:
text encoding, VAE encode/decode, working resolution. Used by the DiffEdit editor and Ref-Diff."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from refedit.errors import BadInput, ModelUnavailable, RefEditWarning
from refedit.pipeline.adapters import LoraSpec, adapter_records, check_lora
from refedit.pipeline.checkpoints import SingleFile, is_single_file
from refedit.pipeline.checkpoints.files import cache_root
from refedit.core import ddim
from refedit.pipeline.graphs import graphed_call
from refedit.pipeline.models import ModelStore

UNET_TYPES = {4: "sd", 9: "inpaint", 8: "instruct"}
#: what the UNet predicts (the scheduler config's ``prediction_type``) that :meth:`StableDiffusion.eps` turns into ε
PREDICTION_TYPES = ("epsilon", "v_prediction")
#: ``vae_tiling = "auto"`` tiles the VAE for working sizes whose long side exceeds this (SD 1.5's VAE at
#: 2048 px needs about 4x the memory of 1024 px; tiles of its native 512 px bound it)
TILE_ABOVE_PX = 1024


def cut_prompts(tokenizer: Any, prompts: list[str]) -> list[str]:
    """What to tell the user for each prompt longer than the text encoder reads (CLIP: 77 tokens with its start
    and end tokens): the tokenizer cuts it, and the words after the cut never reach the model."""
    limit = int(tokenizer.model_max_length)
    if limit <= 0 or limit > 100_000:  # a tokenizer without a real limit ("very large integer")
        return []
    out = []
    for prompt, ids in zip(prompts, tokenizer(prompts, truncation=False, verbose=False).input_ids, strict=True):
        if len(ids) <= limit:
            continue
        lost = ""
        try:  # the kept ids are the start token, limit - 2 tokens and the end token: the next one is the first cut
            start = tokenizer(prompt, truncation=False, verbose=False, return_offsets_mapping=True).offset_mapping[limit - 1][0]
            lost = f": {prompt[start:].strip()!r} is not seen"
        except (NotImplementedError, TypeError, ValueError, IndexError, AttributeError):  # a slow tokenizer: no offsets
            pass
        shown = prompt if len(prompt) <= 60 else prompt[:57] + "..."
        out.append(f"the prompt {shown!r} is {len(ids)} tokens and the text encoder reads {limit}{lost}; say it shorter")
    return out


@dataclass
class StableDiffusion:
    """Lazily loaded SD components of one model role, shared through the :class:`ModelStore`: a folder, a hub
    id or a single-file checkpoint (with its original yaml ``original_config``, else ``FILE.yaml`` beside it),
    optionally with LoRA ``adapters`` on the UNet and text encoder (``fuse_adapters``: merged into the weights)."""

    store: ModelStore
    role: str = "sd"
    override: str | None = None  #: a model id, directory or single file replacing the role's configured one
    original_config: str | None = None
    adapters: tuple[LoraSpec, ...] = ()
    fuse_adapters: bool = False

    @property
    def model_id(self) -> str:
        return self.override or self.store.model_id(self.role)

    def component(self, name: str) -> Any:
        return self.store.get(self.role, name, self.override, original_config=self.original_config,
                              adapters=self.adapters, fuse=self.fuse_adapters)  # fmt: skip

    @property
    def single_file(self) -> "SingleFile | None":
        """The checked single-file checkpoint, or None for a folder or hub id."""
        if not is_single_file(self.model_id):
            return None
        return self.store.single_file(self.role, self.model_id, self.original_config)

    def provenance(self) -> dict[str, Any]:
        """What produced an edit, for its JSON record: the single file (path, SHA-256, weights, configs; None for
        a folder or hub id, whose id is the ``model``) and the adapters (source, scale, fused, path, SHA-256)."""
        single = self.single_file
        return {"checkpoint": single.record() if single else None,
                "adapters": adapter_records(self.adapters, fuse=self.fuse_adapters)}  # fmt: skip

    @property
    def unet(self) -> Any:
        return self.component("unet")

    @property
    def vae(self) -> Any:
        return self.component("vae")

    @property
    def scheduler_config(self) -> Any:
        return self.component("scheduler")

    @property
    def vae_scale(self) -> int:
        """Pixels per latent cell: 2 ** (number of VAE blocks − 1) (8 for SD 1.5)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this for the UNet's downsampling to divide evenly."""
        return self.vae_scale * 2 ** (len(self.unet.config.block_out_channels) - 1)

    def config(self, filename: str, *, required: bool = True) -> dict[str, Any] | None:
        """One JSON file of the checkpoint (``"unet/config.json"``), read once, no weight loaded."""
        return self.store.config(self.role, filename, self.model_id, required=required,
                                 original_config=self.original_config)  # fmt: skip

    def check(self, expected: str, editor: str) -> None:
        """Preflight from the checkpoint's config files only (milliseconds, no weight loads): raise
        :class:`ModelUnavailable` unless it is a Stable Diffusion 1.x/2.x checkpoint of type ``expected``
        ("sd", "inpaint", "instruct") that refedit runs correctly: not SDXL, a UNet of ``expected``'s input
        channels, an ε- or v-predicting schedule, and a text encoder as wide as the UNet's cross-attention.
        A single file is checked the same way, from the config refedit derived from its tensor shapes (an
        untrusted pickle is refused before it is opened); each LoRA adapter is found and its header read."""
        if self.original_config is not None:  # (it was ignored in silence for a folder, the record naming it)
            if not is_single_file(self.model_id):  # (a single file's yaml is read, and refused, by its derivation)
                raise BadInput(f"--editor-config is the yaml of a single-file checkpoint (.safetensors, .ckpt); "
                               f"{self.model_id!r} is a checkpoint folder or hub id, whose own config files say how "
                               "it runs")  # fmt: skip
        if self.adapters or is_single_file(self.model_id):  # their hashes and derived configs are kept there
            cache_root()
        for spec in self.adapters:
            check_lora(spec, trusted=self.store.settings.trust_checkpoint)
        unet = self.config("unet/config.json") or {}
        self._check_not_sdxl(unet)
        channels = int(unet.get("in_channels", 4))
        found = UNET_TYPES.get(channels, f"{channels}-channel")
        if found != expected:
            raise ModelUnavailable(
                f"{self.model_id!r} is {_a(found)} checkpoint ({channels}-channel UNet) but the {editor} editor needs "
                f"{_a(expected)} checkpoint ({ {v: k for k, v in UNET_TYPES.items()}[expected] } channels)"
            )
        prediction = (self.config("scheduler/scheduler_config.json") or {}).get("prediction_type") or "epsilon"
        if prediction not in PREDICTION_TYPES:
            raise ModelUnavailable(
                f"{self.model_id!r} predicts {prediction!r} (its scheduler config's prediction_type); refedit "
                f"runs checkpoints that predict {' or '.join(PREDICTION_TYPES)}"
            )
        self._check_text_width(unet)

    def _check_not_sdxl(self, unet: dict[str, Any]) -> None:
        """SDXL has a second text encoder and size/crop conditioning ("text_time" added embeddings)."""
        index = self.config("model_index.json", required=False) or {}
        local = Path(self.model_id) / "text_encoder_2"
        if unet.get("addition_embed_type") == "text_time" or "text_encoder_2" in index or local.is_dir():
            raise ModelUnavailable(
                f"{self.model_id!r} is an SDXL checkpoint: SDXL checkpoints are not supported yet -- use a "
                "Stable Diffusion 1.x or 2.x checkpoint"
            )

    def _check_text_width(self, unet: dict[str, Any]) -> None:
        """The text encoder's hidden size must be the width the UNet's cross-attention reads (its
        ``encoder_hid_dim`` projection's input, when it has one)."""
        text = self.config("text_encoder/config.json") or {}
        width = text.get("hidden_size") or (text.get("text_config") or {}).get("hidden_size")
        cross = unet.get("encoder_hid_dim") or unet.get("cross_attention_dim")
        widths = set(cross) if isinstance(cross, (list, tuple)) else {cross}
        if width is not None and None not in widths and widths != {width}:
            shown = cross if len(widths) > 1 else next(iter(widths))
            raise ModelUnavailable(
                f"{self.model_id!r} does not fit together: its UNet's cross-attention width is {shown} but its "
                f"text encoder's hidden size is {width} (unet and text_encoder from different checkpoints?)"
            )

    @property
    def prediction_type(self) -> str:
        """What the UNet predicts, from the scheduler config: "epsilon" (SD 1.x) or "v_prediction" (SD 2.x 768-v)."""
        return self.store.cached(("prediction_type", self.model_id),
                                 lambda: str(self.scheduler_config.get("prediction_type") or "epsilon"))  # fmt: skip

    @torch.inference_mode()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """CLIP text embeddings (B, 77, D) of ``prompts``, padded to the tokenizer's max length."""
        tok = self.component("tokenizer")
        enc = self.component("text_encoder")
        ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
        for message in cut_prompts(tok, prompts):
            warnings.warn(message, RefEditWarning, stacklevel=3)
        return enc(ids.input_ids.to(self.store.device))[0].to(self.store.dtype)

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """An RGB image as a (1, 3, H, W) tensor in [-1, 1] on the store's device and dtype."""
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        return x.to(self.store.device, self.store.dtype)

    def vae_tiled(self, height: int, width: int) -> bool:
        """Whether the VAE works in tiles for an image of this size (``Settings.vae_tiling``; ``auto``: when
        the long side exceeds :data:`TILE_ABOVE_PX` and the VAE's own tile size)."""
        mode = self.store.settings.vae_tiling
        if mode == "off":
            return False
        tile = self.vae.tile_sample_min_size
        tile = tile[0] if isinstance(tile, (list, tuple)) else int(tile)
        return max(height, width) > tile and (mode == "on" or max(height, width) > TILE_ABOVE_PX)

    @contextmanager
    def _tiling(self, on: bool) -> Iterator[None]:
        """diffusers' own tiled VAE path (``use_tiling``: overlapping tiles of the VAE's native size, blended) for
        one call, restored afterwards: the VAE is shared through the store."""
        vae = self.vae
        before = vae.use_tiling
        vae.use_tiling = on
        try:
            yield
        finally:
            vae.use_tiling = before

    @torch.inference_mode()
    def encode_image(
        self, image: Image.Image | torch.Tensor, generator: torch.Generator | None = None, *, scaled: bool = True
    ) -> torch.Tensor:
        """VAE latents z_0 = scale · E(x) of an RGB image or a [-1, 1] pixel tensor: a posterior sample with
        ``generator``, else the mean. ``scaled=False`` skips the scaling factor (InstructPix2Pix's
        image conditioning is unscaled)."""
        x = self.pixels(image) if isinstance(image, Image.Image) else image
        with self._tiling(self.vae_tiled(*x.shape[-2:])):
            dist = self.vae.encode(x).latent_dist
        z = dist.sample(generator) if generator is not None else dist.mean
        return z * self.vae.config.scaling_factor if scaled else z

    def ddim_scheduler(self) -> Any:
        """diffusers' DDIMScheduler built from the checkpoint's scheduler config (its ᾱ_t), once per store."""
        from diffusers import DDIMScheduler

        return self.store.cached(("ddim", self.model_id), lambda: DDIMScheduler.from_config(self.scheduler_config))

    def alpha(self, t: int) -> float:
        """ᾱ_t of the checkpoint's noise schedule at training timestep ``t``."""
        return self.store.cached(("alpha", self.model_id, t), lambda: float(self.ddim_scheduler().alphas_cumprod[t]))

    def ddim_schedule(self, steps: int, ratio: float) -> "ddim.Schedule":
        """The last ⌈ratio·T⌉ steps of a T-step DDIM schedule with the checkpoint's own noise schedule."""
        sched = self.ddim_scheduler()
        cfg = sched.config
        return ddim.ddim_schedule(
            sched.alphas_cumprod,
            steps=steps,
            ratio=ratio,
            num_train_timesteps=cfg.num_train_timesteps,
            steps_offset=cfg.steps_offset,
            final_alpha=float(sched.final_alpha_cumprod),
        )

    def timestep(self, t: int, device: torch.device) -> torch.Tensor:
        """The timestep ``t`` as a device tensor, made once: no host-to-device copy inside a denoising loop."""
        return self.store.cached(("timestep", t, str(device)), lambda: torch.tensor(t, device=device))

    def cuda_graphs(self, latents: torch.Tensor) -> bool:
        """Whether UNet calls on ``latents``' device replay as CUDA graphs (:meth:`Settings.graphs_on`)."""
        return self.store.settings.graphs_on(latents.device.type)

    def eps(self, latents: torch.Tensor, t: int, text: torch.Tensor) -> torch.Tensor:
        """One UNet call, as the noise prediction ε_θ(latents, t, text) whatever the checkpoint predicts: a
        v-predicting UNet's v is turned into ε (:func:`ddim.v_to_eps`) with x_t the first ``out_channels``
        channels of ``latents`` (inpainting and InstructPix2Pix UNets get their conditioning after x_t)."""
        if self.cuda_graphs(latents):
            out = graphed_call(self.store, self.model_id, self.unet)(latents, self.timestep(t, latents.device), text)
        else:
            out = self.unet(latents, self.timestep(t, latents.device), encoder_hidden_states=text).sample
        if self.prediction_type == "v_prediction":
            out = ddim.v_to_eps(latents[:, : out.shape[1]], out, self.alpha(t))
        return out

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> Image.Image:
        """Decode latents to an RGB PIL image (tiled for large sizes, see :meth:`vae_tiled`)."""
        z = latents / self.vae.config.scaling_factor
        with self._tiling(self.vae_tiled(z.shape[-2] * self.vae_scale, z.shape[-1] * self.vae_scale)):
            x = self.vae.decode(z).sample
        arr = ((x[0].float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(arr, mode="RGB")

    def working_size(self, size: tuple[int, int], long_side: int) -> tuple[int, int]:
        """(W, H) with the long side ``long_side``, aspect kept, both multiples of :attr:`size_multiple`."""
        w, h = size
        scale = long_side / max(w, h)
        m = self.size_multiple
        return (max(m, round(w * scale / m) * m), max(m, round(h * scale / m) * m))

    def generator(self, seed: int) -> torch.Generator:
        device = self.store.device
        return torch.Generator(device="cpu" if device.type == "mps" else device).manual_seed(seed)


def _a(kind: str) -> str:
    """"an SD", "an instruct", "a 6-channel": a checkpoint kind with its article ("is a instruct checkpoint")."""
    return {"sd": "an SD", "inpaint": "an inpaint", "instruct": "an instruct"}.get(kind, f"a {kind}")
