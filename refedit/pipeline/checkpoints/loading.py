"""Loading a single file's components through diffusers' ``from_single_file`` with the derived configs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refedit.errors import ModelUnavailable
from refedit.pipeline.checkpoints.derived import SingleFile, ema_name
from refedit.pipeline.checkpoints.files import CLIP_PREFIX, EMA_PREFIX, OPEN_CLIP_PREFIX, UNET_PREFIX, VAE_PREFIXES, first_line, load_tensors

if TYPE_CHECKING:  # pragma: no cover
    import torch

def load_component(single: SingleFile, component: str, dtype: "torch.dtype", *, trusted: bool) -> Any:
    """The ``component`` ("unet", "vae", "text_encoder") of the file, through diffusers' single-file loaders
    with the derived config folder (nothing is fetched); only that component's tensors are read."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.models.modeling_utils import no_init_weights

    folder = str(single.folder)
    try:
        # no_init_weights: every weight comes from the file, so skip the random initialisation diffusers'
        # from_pretrained also skips (from_single_file only builds on the meta device, which still runs it)
        if component == "unet":
            state = load_tensors(single.path, trusted=trusted, prefixes=(UNET_PREFIX, EMA_PREFIX))
            unet = [k for k in state if k.startswith(UNET_PREFIX)]
            state = {k: state[ema_name(k)] for k in unet} if single.ema else {k: state[k] for k in unet}
            with no_init_weights():
                return UNet2DConditionModel.from_single_file(state, config=folder, subfolder="unet", torch_dtype=dtype,
                                                             local_files_only=True)  # fmt: skip
        if component == "vae":
            state = load_tensors(single.path, trusted=trusted, prefixes=VAE_PREFIXES)
            with no_init_weights():
                return AutoencoderKL.from_single_file(state, config=folder, subfolder="vae", torch_dtype=dtype,
                                                      local_files_only=True)  # fmt: skip
        if component == "text_encoder":
            return _load_text_encoder(single, dtype, trusted=trusted)
    except (ValueError, RuntimeError, KeyError, OSError) as err:
        raise ModelUnavailable(f"cannot load the {component} of {str(single.path)!r}: {first_line(err)}") from err
    raise KeyError(component)


def _load_text_encoder(single: SingleFile, dtype: "torch.dtype", *, trusted: bool) -> Any:
    """The CLIP text encoder: the file's LDM names converted by diffusers' own single-file converters
    (``FrozenCLIPEmbedder`` or SD 2.x's OpenCLIP), loaded by transformers' ``from_pretrained`` with that state dict
    and the derived config (no random initialisation to overwrite, unlike diffusers' helper); every weight of
    the model must come from the file."""
    from types import SimpleNamespace

    from diffusers.loaders.single_file_utils import convert_ldm_clip_checkpoint, convert_open_clip_checkpoint
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig.from_pretrained(str(single.folder / "text_encoder"))
    state = load_tensors(single.path, trusted=trusted, prefixes=("cond_stage_model.",))
    if any(k.startswith(CLIP_PREFIX) for k in state):
        converted = convert_ldm_clip_checkpoint(state)
    else:
        converted = convert_open_clip_checkpoint(SimpleNamespace(config=config), state, prefix=OPEN_CLIP_PREFIX)
    # (the names keep their "text_model." level; transformers maps it onto its current CLIPTextModel, as for the
    # text_encoder folders of the hub)
    model, info = CLIPTextModel.from_pretrained(None, config=config, state_dict=converted, dtype=dtype,
                                                output_loading_info=True)  # fmt: skip
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.endswith("position_ids"))
    if missing:
        raise ModelUnavailable(f"the text encoder of {str(single.path)!r} lacks {len(missing)} weights "
                               f"(e.g. {missing[0]!r}) -- is it a Stable Diffusion 1.x/2.x checkpoint?")  # fmt: skip
    return model
