"""ModelStore: loads each checkpoint component once, lazily, and shares it between stages.

One instance per (model id, component, device, dtype): the DiffEdit editor and the Ref-Diff segmenter
get the very same UNet. Components are loaded by subfolder (``unet``, ``vae``, ``text_encoder``,
``tokenizer``, ``scheduler``) so refedit does not depend on pipeline classes or the safety checker.

The GPU path lives here too, so every stage gets it: TF32 matrix products on CUDA, UNet and VAE in
channels-last, an optional ``torch.compile`` of the UNet, and the memory plan (``Settings.offload``): with
``model`` only the modules of the model in use stay on the device, with ``group`` diffusers' group offloading and with
``sequential`` accelerate stream the big models' weights from the CPU layer by layer. Every device move is recorded in
``ModelStore.moves``.

The SD roles also take single-file checkpoints (``.safetensors``, trusted ``.ckpt``; see
:mod:`refedit.pipeline.checkpoints`) and LoRA adapters on the UNet and text encoder (see
:mod:`refedit.pipeline.adapters`): an adapted component is its own instance, so other stages sharing the checkpoint
keep the bare one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from refedit.config import MODEL_ROLES, Settings, env_var
from refedit.errors import ModelUnavailable
from refedit.pipeline.checkpoints import SD_ROLES, is_single_file, looks_like_file

if TYPE_CHECKING:  # pragma: no cover
    from refedit.pipeline.adapters import LoraSpec
    from refedit.pipeline.checkpoints import SingleFile

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _diffusers(cls_name: str, subfolder: str) -> Callable[..., Any]:
    def load(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
        import diffusers

        return getattr(diffusers, cls_name).from_pretrained(model_id, subfolder=subfolder, torch_dtype=dtype, **hub)

    return load


def _scheduler_config(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
    from diffusers import DDIMScheduler

    # SD repositories ship a PNDM config; DDIM/DDIMInverse are built from its values by the editor.
    return DDIMScheduler.load_config(model_id, subfolder="scheduler", **hub)


def _transformers(cls_name: str, subfolder: str | None = None, weights: bool = True) -> Callable[..., Any]:
    def load(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
        import transformers

        kwargs: dict[str, Any] = {"subfolder": subfolder, **hub} if subfolder else dict(hub)
        if weights:
            kwargs["dtype"] = dtype
        return getattr(transformers, cls_name).from_pretrained(model_id, **kwargs)

    return load


def _auto_types(mapping: str) -> Callable[[], frozenset[str]]:
    """The ``model_type`` values a transformers auto class accepts (its ``*_MAPPING_NAMES`` keys)."""

    def types() -> frozenset[str]:
        from transformers.models.auto import modeling_auto

        return frozenset(getattr(modeling_auto, mapping))

    return types


#: ``model_type`` -> transformers class, per role family: SAM and SAM 2/2.1 (the hub's SAM 2.1 repositories say
#: "sam2_video"; Sam2Model loads their image part), SAM 3 ("sam3_video" repositories hold the detector too), and
#: the open-set detectors
SAM_CLASSES = {"sam": "SamModel", "sam2": "Sam2Model", "sam2_video": "Sam2Model"}
SAM3_CLASSES = {"sam3": "Sam3Model", "sam3_video": "Sam3Model"}
DETECTOR_CLASSES = {"grounding-dino": "AutoModelForZeroShotObjectDetection",
                    "mm-grounding-dino": "AutoModelForZeroShotObjectDetection",
                    "owlv2": "AutoModelForZeroShotObjectDetection", "owlvit": "AutoModelForZeroShotObjectDetection",
                    "florence2": "Florence2ForConditionalGeneration"}  # fmt: skip


def _by_type(classes: dict[str, str], default: str) -> Callable[..., Any]:
    """A loader whose transformers class follows the checkpoint's ``model_type`` (``classes``, else ``default``)."""

    def load(model_id: str, dtype: "torch.dtype", **hub: Any) -> Any:
        from transformers import PretrainedConfig

        found = PretrainedConfig.get_config_dict(model_id, **hub)[0].get("model_type")
        return _transformers(classes.get(found, default))(model_id, dtype, **hub)

    return load


@dataclass(frozen=True)
class Component:
    """How to load one component: ``loader(model_id, dtype, **hub_kwargs)``; ``module`` ones go to the
    device. ``model_types`` (when set) lists the ``model_type`` values of the checkpoint's top-level
    ``config.json`` the loader can use; ``family`` names them in the refusal ("a SAM checkpoint")."""

    loader: Callable[..., Any]
    module: bool = True
    model_types: Callable[[], frozenset[str]] | None = None
    family: str = ""


COMPONENTS: dict[str, Component] = {
    "unet": Component(_diffusers("UNet2DConditionModel", "unet")),
    "vae": Component(_diffusers("AutoencoderKL", "vae")),
    "text_encoder": Component(_transformers("CLIPTextModel", "text_encoder")),
    "tokenizer": Component(_transformers("CLIPTokenizer", "tokenizer", weights=False), module=False),
    "scheduler": Component(_scheduler_config, module=False),
    # the detector families refedit has an adapter for (refedit/pipeline/segment/detectors.py); Florence-2 is a
    # captioning model whose phrase-grounding task gives the boxes
    "detector": Component(_by_type(DETECTOR_CLASSES, "AutoModelForZeroShotObjectDetection"),
                          model_types=lambda: frozenset(DETECTOR_CLASSES), family="zero-shot object detection"),  # fmt: skip
    # transformers loads SamModel/CLIPModel from any folder, with random weights for what it lacks: check first
    "sam": Component(_by_type(SAM_CLASSES, "SamModel"), model_types=lambda: frozenset(SAM_CLASSES), family="SAM"),
    "sam3": Component(_by_type(SAM3_CLASSES, "Sam3Model"), model_types=lambda: frozenset(SAM3_CLASSES), family="SAM 3"),
    "text_tokenizer": Component(_transformers("AutoTokenizer", weights=False), module=False),
    "clip": Component(_transformers("CLIPModel"), model_types=lambda: frozenset({"clip"}), family="CLIP"),
    "clipseg": Component(_transformers("CLIPSegForImageSegmentation"), model_types=lambda: frozenset({"clipseg"}),
                         family="CLIPSeg"),  # fmt: skip
    "captioner": Component(_transformers("AutoModelForImageTextToText"),
                           model_types=_auto_types("MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES"),
                           family="image-to-text"),  # fmt: skip
    "processor": Component(_transformers("AutoProcessor", weights=False), module=False),
    # metric models of `refedit eval`: DINO (ViT) image features, and the LPIPS network (refedit/eval/metrics/lpips.py)
    "dino": Component(_transformers("AutoModel"), model_types=lambda: frozenset({"vit", "dinov2", "dinov2_with_registers"}),
                      family="DINO (ViT)"),  # fmt: skip
    "lpips": Component(lambda model_id, dtype, **hub: _lpips(model_id)),
    # the instruction editors' diffusers layouts (Kontext also uses "vae", "text_encoder" and "tokenizer" above)
    "qwen_transformer": Component(_diffusers("QwenImageTransformer2DModel", "transformer")),
    "qwen_vae": Component(_diffusers("AutoencoderKLQwenImage", "vae")),
    "qwen_text_encoder": Component(_transformers("Qwen2_5_VLForConditionalGeneration", "text_encoder")),
    "qwen_processor": Component(lambda model_id, dtype, **hub: _qwen_processor(model_id, **hub), module=False),
    "flux_transformer": Component(_diffusers("FluxTransformer2DModel", "transformer")),
    "t5_encoder": Component(_transformers("T5EncoderModel", "text_encoder_2")),
    "t5_tokenizer": Component(_transformers("AutoTokenizer", "tokenizer_2", weights=False), module=False),
    "qwen_tokenizer": Component(_transformers("AutoTokenizer", "tokenizer", weights=False), module=False),
}


def _qwen_processor(model_id: str, **hub: Any) -> Any:
    from refedit.pipeline.qwen_processor import load_qwen_processor  # image-only where torchvision is missing

    return load_qwen_processor(model_id, **hub)


def _lpips(model_id: str) -> Any:
    from refedit.eval.metrics.lpips import load_lpips  # the metric's own network; no hub layout

    return load_lpips(model_id)


#: components that ``group`` and ``sequential`` offload stream layer by layer (diffusers' own sequential offload covers
#: these; the detector, SAM and CLIP read some weights outside their owning module's forward, so they move whole)
STREAMABLE = ("unet", "vae", "text_encoder", "qwen_transformer", "qwen_vae", "qwen_text_encoder", "flux_transformer",
              "t5_encoder")

#: components too big to share the device with the rest of their own checkpoint (12-20 B parameters): under ``model``
#: offload they stay on the CPU and their editor's diffusers pipeline moves one at a time to the device
#: (``enable_model_cpu_offload``: text encoder, then transformer, then VAE)
PIPELINE_OFFLOADED = ("qwen_transformer", "qwen_vae", "qwen_text_encoder", "flux_transformer", "t5_encoder")

#: role -> the component whose checkpoint family :meth:`ModelStore.check_types` reads from its config.json
TYPED_ROLES = {"grounding": "detector", "sam": "sam", "sam3": "sam3", "clip": "clip", "captioner": "captioner", "clipscore": "clip",
               "dino": "dino", "clipseg": "clipseg"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can the model hub be reached right now? False at once when ``HF_HUB_OFFLINE`` is set, else one TCP
    connection attempt (so a machine without a network fails in seconds, not after the hub's retries)."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except Exception:  # no route, no DNS, refused, or a sandbox that forbids sockets
        return False


def resolve_device(name: str) -> "torch.device":
    """``auto`` picks CUDA, then Apple MPS, then CPU."""
    import torch

    if name != "auto":
        from refedit.errors import BadInput

        if name.startswith("cuda") and not torch.cuda.is_available():
            raise BadInput(f"device {name!r} requested but CUDA is not available here (use --device cpu)")
        if name.startswith("cuda") and (index := torch.device(name).index) is not None and index >= torch.cuda.device_count():
            raise BadInput(f"device {name!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)")
        if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise BadInput("device 'mps' requested but Apple's MPS is not available here (use --device cpu)")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_dtype(name: str, device: "torch.device") -> "torch.dtype":
    """``auto`` is float16 on CUDA and MPS, float32 on CPU."""
    import torch

    if name == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    return getattr(torch, name)


def _unavailable(role: str, model_id: str, component: str, err: BaseException) -> ModelUnavailable:
    """One actionable line for a checkpoint that cannot be loaded: a local path that does not exist, a folder
    that is not a checkpoint of this family, or a hub id that is neither cached nor downloadable."""
    if is_missing_folder(model_id, failed=True):
        return missing_folder(role, model_id)
    local = Path(model_id).exists()
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if len(reason) > 160:
        reason = reason[:157] + "..."
    flag = _flag(role)
    if local:
        return ModelUnavailable(
            f"cannot load the {role} model {model_id!r} ({component}): {reason} -- the folder is not a complete "
            f"checkpoint of this family; point {flag} or {env_var(role)} at one"
        )
    return ModelUnavailable(
        f"cannot load the {role} model {model_id!r} ({component}): {reason} -- it downloads on first use where "
        f"a network exists; otherwise download it elsewhere (`hf download {model_id}`) and point {flag} or "
        f"{env_var(role)} at the local directory"
    )


def is_hub_id(model_id: str) -> bool:
    """Whether ``model_id`` has the shape of a hub repository id (``name`` or ``owner/name``); anything else
    (``/abs/path``, ``./rel``, ``~/x``, ``a/b/c``) can only be a local folder."""
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model_id)
    except ValueError:
        return False
    return True


def _flag(role: str) -> str:
    return "the config file" if role == "llm" else f"--{role}-model"  # the CLI has a flag for every other role


def missing_folder(role: str, model_id: str) -> ModelUnavailable:
    """The refusal for a local path that does not exist (no hub download can help it)."""
    return ModelUnavailable(
        f"cannot load the {role} model: the folder {model_id!r} does not exist -- point {_flag(role)} or "
        f"{env_var(role)} at an existing checkpoint directory or a hub id"
    )


def is_missing_folder(model_id: str, *, failed: bool = False) -> bool:
    """``model_id`` names a local folder that does not exist: it is no path here and cannot be a hub id
    (``/abs/path``, ``./rel``, ``a/b/c``); once loading it ``failed``, also when its parent folder exists here
    (``models/sd`` beside a ``models/`` folder: a typo, not a hub id)."""
    path = Path(model_id)
    if path.exists():
        return False
    return not is_hub_id(model_id) or (failed and path.parent != Path(".") and path.parent.is_dir())


def check_local(role: str, model_id: str) -> None:
    """Raise :func:`missing_folder` when ``model_id`` can only be a local folder and it does not exist; for a
    single-file checkpoint (by suffix), when the file does not exist or the role cannot take one."""
    if looks_like_file(model_id):
        if role not in SD_ROLES:
            raise ModelUnavailable(
                f"the {role} model {model_id!r} is a single file; single-file checkpoints work for the "
                f"{', '.join(SD_ROLES)} roles -- point {_flag(role)} or {env_var(role)} at a checkpoint folder or "
                "hub id"
            )
        if not Path(model_id).expanduser().exists():
            raise ModelUnavailable(f"cannot load the {role} model: the file {model_id!r} does not exist -- point "
                                   f"{_flag(role)} or {env_var(role)} at an existing .safetensors/.ckpt file")  # fmt: skip
        return
    if is_missing_folder(model_id):
        raise missing_folder(role, model_id)


def base_model(settings: Settings) -> str:
    """The checkpoint that lends a single-file checkpoint its tokenizer, scheduler config, the architecture
    details its tensor shapes cannot tell, and any component the file lacks: the first of the ``sd``,
    ``inpaint``, ``instruct`` roles' checkpoints that is a folder or hub id (``sd`` normally), else SD 1.5."""
    for role in SD_ROLES:
        model = settings.models.get(role)
        if model and not is_single_file(model):
            return model
    return MODEL_ROLES["sd"][0]


def read_config(role: str, model_id: str, filename: str, *, required: bool = True) -> dict[str, Any] | None:
    """One JSON file of a checkpoint (``"unet/config.json"``), read without loading any weight: from the
    local folder, else the hub cache, else the hub when it is reachable (a few kB).

    A file the checkpoint does not have is None, or :class:`ModelUnavailable` when ``required``; a checkpoint
    that cannot be reached at all is always :class:`ModelUnavailable` (the same line :meth:`ModelStore.get`
    gives)."""
    import json

    check_local(role, model_id)
    component = filename.rsplit("/", 1)[0] if "/" in filename else "config"
    local = Path(model_id)
    try:
        if local.is_dir():
            path: Path | None = local / filename
            if not path.is_file():
                path = None
        else:
            path = _hub_file(model_id, filename, required)
        if path is None:
            if required:
                raise FileNotFoundError(f"{model_id} has no {filename}")
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _unavailable(role, model_id, component, err) from err
    except Exception as err:  # huggingface_hub HTTP errors and friends
        if type(err).__module__.startswith(("huggingface_hub", "requests", "httpx", "urllib3")):
            raise _unavailable(role, model_id, component, err) from err
        raise


def _hub_file(model_id: str, filename: str, required: bool) -> Path | None:
    """``filename`` of hub repo ``model_id`` from the cache, else downloaded when the hub is reachable; None
    when the repository lacks it, or when an optional file is not cached and the hub is out of reach."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(model_id, filename, local_files_only=True))
    except LocalEntryNotFoundError as local_err:
        if not hub_reachable():
            if required:
                raise OSError(f"{filename} is not in the local cache and the hub cannot be reached") from local_err
            return None
    try:
        return Path(hf_hub_download(model_id, filename))
    except EntryNotFoundError:
        return None


def _quiet_libraries() -> None:
    """Silence per-load chatter (weight-loading bars, advice to install extras); hub download progress and
    real errors still show. ``REFEDIT_DEBUG=1`` keeps everything."""
    from refedit.config import debug_env

    if debug_env():
        return
    import diffusers
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()


#: one model load at a time in the process, whichever store asks: transformers builds a model on the meta device by
#: patching torch's init functions process-wide, so two stores loading at once (``refedit.edit`` called from two
#: threads on first use) got meta tensors ("Cannot copy out of meta tensor") and left the patch in place for every
#: later load in the process
_LOADING = threading.RLock()


class ModelStore:
    """Lazy, shared model loading for one device and dtype.

    ``get(role, component)`` returns the component of the model configured for ``role`` (see
    :data:`refedit.config.MODEL_ROLES`); ``loads`` records every ``from_pretrained`` call made, in order.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._cache: dict[tuple[str, str, str, str], Any] = {}
        self._lock = threading.RLock()
        self._device: "torch.device | None" = None
        self._dtype: "torch.dtype | None" = None
        self.loads: list[tuple[str, str]] = []
        #: every offload move: (model id, component, "device" | "cpu" | "sequential")
        self.moves: list[tuple[str, str, str]] = []
        self._active: str | None = None  # model id whose modules are on the device ("model" offload)
        self._where: dict[tuple[str, str, str, str], str] = {}  # "model" offload: where each module is

    @property
    def device(self) -> "torch.device":
        if self._device is None:
            self._device = resolve_device(self.settings.device)
            if self._device.type == "cuda":
                import torch

                # TF32 for float32 matrix products and convolutions (Ampere and newer; fp16 is unaffected)
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
            elif self._device.type == "cpu":
                import torch

                # denormal floats (below 1.2e-38) to zero: x86 CPUs compute with them up to 100x slower, and SAM's
                # zero-padded input made every ViT-H layer 9x slower (a 4000x3000 photo: 15 min instead of 45 s)
                torch.set_flush_denormal(True)
        return self._device

    @property
    def dtype(self) -> "torch.dtype":
        if self._dtype is None:
            self._dtype = resolve_dtype(self.settings.dtype, self.device)
        return self._dtype

    def model_id(self, role: str) -> str:
        return self.settings.model(role)

    def get(self, role: str, component: str, model_id: str | None = None, *, original_config: str | None = None,
            adapters: "tuple[LoraSpec, ...]" = (), fuse: bool = False) -> Any:  # fmt: skip
        """The loaded ``component`` ("unet", "vae", "detector", ...) of ``role``'s model (or of ``model_id``,
        e.g. from ``--editor-model``: a folder, hub id or single file), cached. ``original_config`` is a single
        file's original yaml; ``adapters`` (LoRA, on "unet" and "text_encoder" only, ``fuse``d or not) give a
        separate instance with the adapters loaded."""
        from refedit.pipeline.adapters import LORA_COMPONENTS, adapters_digest

        if role not in MODEL_ROLES:
            raise KeyError(f"unknown model role {role!r}")
        spec = COMPONENTS[component]
        model_id = model_id or self.model_id(role)
        adapters = tuple(adapters) if component in LORA_COMPONENTS else ()
        tag = component + (f"@{original_config}" if original_config and is_single_file(model_id) else "")
        tag += f"+lora:{adapters_digest(adapters, fuse)}" if adapters else ""
        key = (model_id, tag, str(self.device), str(self.dtype))
        with self._lock:
            if key in self._cache:
                if spec.module and self.settings.offload != "none" and self._active != model_id:
                    self._activate(model_id)
                return self._cache[key]
            with _LOADING:
                return self._load_new(key, role, component, model_id, original_config, adapters, fuse)

    def _load_new(self, key: tuple[str, str, str, str], role: str, component: str, model_id: str,
                  original_config: str | None, adapters: "tuple[LoraSpec, ...]", fuse: bool) -> Any:  # fmt: skip
        """:meth:`get`'s load of a component not in the cache yet, cached under ``key``."""
        spec = COMPONENTS[component]
        tag = key[1]
        check_local(role, model_id)
        if spec.model_types is not None:
            self.check_type(role, component, model_id)
        _quiet_libraries()
        if is_single_file(model_id):
            obj = self._load_single_file(role, component, model_id, original_config)
            if obj is None:  # a non-module part (tokenizer) lent by the base model: shared, not copied
                return self.get(role, component, self.single_file(role, model_id, original_config).base)
        else:
            obj = self._load(role, component, model_id)
        if adapters:
            from refedit.pipeline.adapters import apply_loras

            apply_loras(obj, component, adapters, fuse=fuse, trusted=self.settings.trust_checkpoint)
        self.loads.append((model_id, tag))
        if spec.module:
            obj = self._place(model_id, component, obj.eval().requires_grad_(False), tag=tag)
        self._cache[key] = obj
        return obj

    def _load(self, role: str, component: str, model_id: str) -> Any:
        """A fresh ``component`` of a folder or hub checkpoint: the local copy first, the hub if reachable."""
        spec = COMPONENTS[component]
        try:
            try:  # the local copy (a directory, or the hub cache) first: no network needed
                return spec.loader(model_id, self.dtype, local_files_only=True)
            except (OSError, ValueError) as local_err:
                if Path(model_id).exists() or not hub_reachable():
                    raise local_err
                return spec.loader(model_id, self.dtype)  # download it (the hub shows progress)
        except (OSError, ValueError, ImportError) as err:
            raise _unavailable(role, model_id, component, err) from err
        except Exception as err:  # huggingface_hub HTTP errors and friends
            if type(err).__module__.startswith(("huggingface_hub", "requests", "httpx", "urllib3")):
                raise _unavailable(role, model_id, component, err) from err
            raise

    def _load_single_file(self, role: str, component: str, model_id: str, original_config: str | None) -> Any:
        """A fresh ``component`` of a single-file checkpoint: from the file when it holds it, the scheduler config
        from the derived folder, a missing VAE or text encoder freshly from the base model (its own instance, so
        the memory plan moves it with the file's UNet); None for the tokenizer (shared from the base)."""
        from refedit.pipeline.checkpoints import load_component

        single = self.single_file(role, model_id, original_config)
        if component in single.parts:
            return load_component(single, component, self.dtype, trusted=self.settings.trust_checkpoint)
        if component == "scheduler":
            from diffusers import DDIMScheduler

            return DDIMScheduler.load_config(str(single.folder), subfolder="scheduler")
        if component == "tokenizer":
            return None
        return self._load("sd", component, single.base)

    def single_file(self, role: str, model_id: str, original_config: str | None = None) -> "SingleFile":
        """The checked single-file checkpoint ``model_id`` with its derived config folder (see
        :func:`refedit.pipeline.checkpoints.prepare`), once per store; the base model must be readable."""
        from refedit.pipeline.checkpoints import prepare

        check_local(role, model_id)
        path = str(Path(model_id).expanduser().resolve())

        def make() -> "SingleFile":
            base = base_model(self.settings)
            self.config("sd", "tokenizer/tokenizer_config.json", base)  # the tokenizer always comes from the base

            def base_config(filename: str) -> Any:
                return self.config("sd", filename, base, required=False)

            return prepare(path, base=base, base_config=base_config, trusted=self.settings.trust_checkpoint,
                           original_config=original_config)  # fmt: skip

        return self.cached(("single-file", path, original_config), make)

    def config(self, role: str, filename: str, model_id: str | None = None, *, required: bool = True,
               original_config: str | None = None) -> Any:  # fmt: skip
        """One JSON file of ``role``'s checkpoint (e.g. ``"unet/config.json"``) as a dict, or None when an
        optional file is absent; read once (see :func:`read_config`), no weight loaded, nothing in ``loads``.
        For a single-file checkpoint, the file of its derived config folder."""
        model_id = model_id or self.model_id(role)
        if is_single_file(model_id):
            from refedit.pipeline.checkpoints import read_derived

            data = read_derived(self.single_file(role, model_id, original_config), filename)
            if data is None and required:
                raise ModelUnavailable(f"cannot load the {role} model {model_id!r}: its derived config has no "
                                       f"{filename}")  # fmt: skip
            return data
        return self.cached(("config", model_id, filename, required),
                           lambda: read_config(role, model_id, filename, required=required))  # fmt: skip

    def check_types(self, roles: Iterable[tuple[str, str | None]]) -> None:
        """:meth:`check_type` for each (role, model id override or None) whose component's family is read from its
        config (:data:`TYPED_ROLES`; the SD roles are checked by their editors)."""
        for role, model_id in roles:
            if role in TYPED_ROLES:
                self.check_type(role, TYPED_ROLES[role], model_id)

    def check_type(self, role: str, component: str, model_id: str | None = None) -> None:
        """Raise :class:`ModelUnavailable` when the checkpoint's ``config.json`` names a ``model_type`` that
        ``component``'s loader cannot use (a CLIP folder given as the SAM model): before any weight loads."""
        spec = COMPONENTS[component]
        if spec.model_types is None:
            return
        model_id = model_id or self.model_id(role)
        found = (self.config(role, "config.json", model_id) or {}).get("model_type")
        allowed = spec.model_types()
        if found not in allowed:
            a = "an" if spec.family[:1].lower() in "aeiou" else "a"  # ("a image-to-text checkpoint")
            names = " or ".join(map(repr, sorted(allowed))) if len(allowed) <= 6 else f"{a} {spec.family} type"
            raise ModelUnavailable(
                f"{model_id!r} is not {a} {spec.family} checkpoint (its config.json says model_type {found!r}, the "
                f"{role} model needs {names}) -- point {_flag(role)} or {env_var(role)} at {a} {spec.family} checkpoint"
            )

    def _place(self, model_id: str, component: str, module: Any, tag: str | None = None) -> Any:
        """Put a freshly loaded module where the memory plan wants it, in the layout the device runs fastest
        (``tag``: the component's cache name, e.g. with its adapters)."""
        import torch

        if component in ("unet", "vae") and (
            self.settings.channels_last == "on" or (self.settings.channels_last == "auto" and self.device.type == "cuda")
        ):
            module = module.to(memory_format=torch.channels_last)
        offload = self.settings.offload
        if offload == "sequential" and component in STREAMABLE:
            from accelerate import cpu_offload

            cpu_offload(module, execution_device=self.device)
            self.moves.append((model_id, component, "sequential"))
        elif offload == "group" and component in STREAMABLE:
            from diffusers.hooks import apply_group_offloading

            # every leaf module's weights come to the device for its call; on CUDA from pinned memory on a side
            # stream, the next leaf's copy overlapping the current leaf's work (diffusers' fast path)
            stream = self.device.type == "cuda"
            apply_group_offloading(module, onload_device=self.device, offload_device=torch.device("cpu"),
                                   offload_type="leaf_level", use_stream=stream, record_stream=stream)  # fmt: skip
            self.moves.append((model_id, component, "group"))
        elif offload == "model" and component in PIPELINE_OFFLOADED:
            self.moves.append((model_id, component, "pipeline"))  # stays on the CPU; its pipeline's hooks move it
        elif offload in ("model", "group", "sequential"):
            self._activate(model_id)
            module = module.to(self.device)
            self._where[(model_id, tag or component, str(self.device), str(self.dtype))] = "device"
        else:
            module = module.to(self.device)
        if component == "unet" and self.settings.compile:
            # in place (the module keeps its class, config and attention processors); static shapes: one graph for
            # the inversion's batch of 1 and one for the guided batch of 2, no third dynamic-shape compilation
            module.compile(dynamic=False)
        return module

    def _activate(self, model_id: str) -> None:
        """``model`` offload: the modules of ``model_id`` to the device, every other model's to the CPU."""
        moved_out = False
        for key, now in list(self._where.items()):
            mid, component = key[0], key[1]
            obj = self._cache.get(key)
            where = "device" if mid == model_id else "cpu"
            if obj is not None and now != where:
                obj.to(self.device if where == "device" else "cpu")
                self._where[key] = where
                self.moves.append((mid, component, where))
                moved_out |= where == "cpu"
        self._active = model_id
        if moved_out and self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()  # hand the freed blocks back, so the next model has the room

    def cached(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """A derived object (e.g. a built scheduler) cached under ``key`` for this store's lifetime."""
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]


#: a file every checkpoint of a role has: diffusers layouts have per-component folders, transformers one config
_PROBE_FILES = {"sd": "unet/config.json", "inpaint": "unet/config.json", "instruct": "unet/config.json",
                "qwen-edit": "model_index.json", "kontext": "model_index.json"}


#: the files a model's weights come in (transformers and diffusers, sharded or not)
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json", "*.pt", "*.pth", "*.ckpt")


def check_weight_files(folder: Path) -> None:
    """:class:`ModelUnavailable` for a ``.safetensors`` file of a checkpoint folder (or of its component folders)
    whose header does not fit the file: a truncated download, found from the headers alone (a few kB) before any
    stage runs; it was an internal error (transformers' ``SafetensorError``) once the stage loaded it."""
    from refedit.pipeline.checkpoints.files import safetensors_header

    for path in sorted([*folder.glob("*.safetensors"), *folder.glob("*/*.safetensors")]):
        safetensors_header(path)
    for config in sorted([folder / "config.json", *folder.glob("*/config.json")]):  # a model's folder, not a tokenizer's
        part = config.parent
        if config.is_file() and not any(any(part.glob(pattern)) for pattern in WEIGHT_FILES):
            raise ModelUnavailable(f"the checkpoint folder {str(part)!r} has a config.json but no weights ("
                                   f"{', '.join(WEIGHT_FILES)}): an incomplete download? -- download it again")  # fmt: skip


def check_available(settings: Settings, roles: Iterable[tuple[str, str | None]]) -> None:
    """Raise :class:`ModelUnavailable` for the first of ``roles`` ((role, model id override or None for the
    role's configured id) pairs) whose checkpoint can neither be read here (a local folder or file, or the hub
    cache) nor downloaded (the hub is reachable). Loads and downloads nothing: a missing model is reported in
    well under 2 s, before any parsing or model loading. The ``llm`` role is an endpoint, not a checkpoint. A
    single file is checked without unpickling it (:func:`refedit.pipeline.checkpoints.quick_check`)."""
    for role, override in roles:
        if role == "llm":
            continue
        model_id = override or settings.model(role)
        try:
            check_local(role, model_id)
        except ModelUnavailable as err:  # the stage's own model (--editor-model), not the role's setting
            if override is None:
                raise
            raise ModelUnavailable(str(err).replace(f"{_flag(role)} or {env_var(role)}", "--editor-model")) from None
        if is_single_file(model_id):  # untrusted pickle: exit 2 before it is opened; truncated file: exit 5
            from refedit.pipeline.checkpoints import quick_check

            quick_check(model_id, trusted=settings.trust_checkpoint)
            continue
        if (folder := Path(model_id).expanduser()).is_dir():
            check_weight_files(folder)
        if folder.exists():
            continue
        from huggingface_hub import try_to_load_from_cache

        probe = _PROBE_FILES.get(role, "config.json")
        if isinstance(try_to_load_from_cache(model_id, probe), str) or hub_reachable(timeout=1.0):
            continue
        raise _unavailable(role, model_id, probe.split("/")[0].removesuffix(".json"),
                           OSError("not in the local cache and the hub cannot be reached"))  # fmt: skip
