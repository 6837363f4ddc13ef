"""Single-file checkpoints as their authors release them: one original-layout (CompVis/LDM) ``.safetensors`` or
``.ckpt`` file (InstructPix2Pix, MagicBrush, iEdit, ReferDiffusion, most fine-tunes), loaded through diffusers'
``from_single_file`` without a network.

diffusers' single-file loading wants a diffusers config folder (normally fetched from the hub). refedit writes one
into its cache directory, named after the file's SHA-256, from the file itself:

- the architecture from the file's tensor shapes (:func:`infer_unet`, :func:`infer_vae`, :func:`infer_text`):
  UNet input channels (4 SD, 8 InstructPix2Pix, 9 inpainting), block widths, layers per block, which levels
  attend, cross-attention width, linear (SD 2.x) or 1x1-conv (SD 1.x) projections; VAE and CLIP widths and depths;
- what shapes cannot tell (attention heads, norm groups, sample size, the VAE's scaling factor, the text
  encoder's activation and special tokens, the noise schedule) from the base model (the ``sd`` role's checkpoint)
  when its shapes agree with the file's, else from the SD 1.x / 2.x defaults diffusers' own converter uses; an
  original ``.yaml`` config (``--editor-config``, or ``FILE.yaml`` beside the file) overrides both;
- the tokenizer always, and the VAE or text encoder when the file lacks them, from the base model.

EMA: a file holding a complete ``model_ema.*`` copy of the UNet (a training checkpoint) is loaded with the EMA
weights, as the original inference scripts do. Prediction type: the yaml's ``parameterization``, else the base's
when the UNet shapes agree, else diffusers' rule (SD 2.x: v-prediction unless ``global_step`` is 875000).

Safety: a pickle (``.ckpt``, ``.pt``, ``.pth``, ``.bin``) runs code when read, so it is refused before it is
opened unless the user trusts it (``--trust-checkpoint``); safetensors files are read from their header first,
so a truncated download is refused in milliseconds. Nothing is ever written beside the user's file.

Modules: :mod:`.files` (kind, trust, header, weights, hash), :mod:`.architecture` (the architecture from tensor
shapes), :mod:`.derived` (the config folder in the cache), :mod:`.loading` (the components through diffusers).
"""

from refedit.pipeline.checkpoints.architecture import (
    TEXT_SHAPE_KEYS,
    UNET_SHAPE_KEYS,
    VAE_SHAPE_KEYS,
    infer_text,
    infer_unet,
    infer_vae,
)
from refedit.pipeline.checkpoints.derived import SingleFile, derive_configs, prepare, read_derived
from refedit.pipeline.checkpoints.files import (
    EMA_PREFIX,
    SD_ROLES,
    UNET_PREFIX,
    check_trusted,
    file_sha256,
    is_pickle,
    is_single_file,
    load_tensors,
    looks_like_file,
    quick_check,
    read_shapes,
)
from refedit.pipeline.checkpoints.loading import load_component

__all__ = ["EMA_PREFIX", "SD_ROLES", "TEXT_SHAPE_KEYS", "UNET_PREFIX", "UNET_SHAPE_KEYS", "VAE_SHAPE_KEYS",
           "SingleFile", "check_trusted", "derive_configs", "file_sha256", "infer_text", "infer_unet", "infer_vae",
           "is_pickle", "is_single_file", "load_component", "load_tensors", "looks_like_file", "prepare",
           "quick_check", "read_derived", "read_shapes"]  # fmt: skip
