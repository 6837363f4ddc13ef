"""Current instruction editors made local by refedit's mask: Qwen-Image-Edit (``qwen-edit``) and FLUX.1 Kontext
(``kontext``), run through diffusers' own pipelines.

These models rewrite whatever image they get and cannot tell *which* cat is meant. So each edit:

1. picks the region to repaint (:func:`~refedit.pipeline.edit.region.edit_mask`: the object, its box, or its box
   grown for a shape-changing replacement, never another detected instance);
2. crops around it with context (:func:`~refedit.pipeline.edit.region.context_box`), cut back so no other
   instance is in view, and resizes the crop to the model's working size (about ``resolution``², multiples of the
   VAE factor times the patch size);
3. rewrites the instruction for that crop (:func:`~refedit.pipeline.edit.instruction.crop_instruction`: "replace
   the cat with a tiger", no "left", no relation);
4. runs the checkpoint's mask-aware pipeline (``QwenImageEditInpaintPipeline``, ``FluxKontextInpaintPipeline``:
   the mask constrains every denoising step) or, with ``mask_aware`` off, the plain edit pipeline;
5. pastes the result back through the feathered mask at the input's full resolution (:func:`paste_back`): every
   pixel where the paste-back alpha is 0 is the input's, bit for bit.

Components load through the :class:`~refedit.pipeline.models.ModelStore` (once, shared, with the store's device,
dtype and offload plan); before the first load on a GPU whose free memory cannot hold the weights the offload plan
keeps there, a warning says so and names the modes that need less; a CUDA out-of-memory error becomes one line naming
``--offload``.
"""

from __future__ import annotations

import sys
import threading
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import numpy as np
from PIL import Image

from refedit.core.geometry import CropPlan
from refedit.core.masks import mask_box
from refedit.errors import ModelUnavailable, RefEditWarning
from refedit.pipeline.artifacts import EditPlan, EditResult, Segmentation
from refedit.pipeline.edit.composite import blend_alpha, outside_metrics, paste_back
from refedit.pipeline.edit.instruction import crop_instruction
from refedit.pipeline.edit.options import InstructionEditOptions
from refedit.pipeline.imagekeys import image_array
from refedit.pipeline.edit.region import MaskMode, context_box, default_mask_mode, edit_mask, parse_mask_mode, working_size


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything an edit computes before the model runs: the ``mode`` and the repainted ``region`` (HxW bool at
    the input's resolution), the paste-back ``alpha`` (HxW float), the ``crop`` box, the model's working ``size``
    (W, H), the crop ``image`` and ``mask`` at that size, and the rewritten ``instruction``."""

    mode: MaskMode
    region: np.ndarray
    alpha: np.ndarray
    crop: tuple[int, int, int, int]
    size: tuple[int, int]
    image: Image.Image
    mask: Image.Image
    instruction: str


def other_instances(segmentation: Segmentation) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """The masks (a box for a candidate without one) and boxes of the detected instances that were not chosen."""
    h, w = segmentation.mask.shape
    masks, boxes = [], []
    for i, cand in enumerate(segmentation.candidates):
        if i in segmentation.chosen:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in cand.box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 <= x0 or y1 <= y0:
            continue
        if cand.mask is not None:
            masks.append(cand.mask)
        else:
            m = np.zeros((h, w), dtype=bool)
            m[y0:y1, x0:x1] = True
            masks.append(m)
        boxes.append((x0, y0, x1, y1))
    return masks, boxes


def prepare(image: Image.Image, plan: EditPlan, segmentation: Segmentation, options: InstructionEditOptions, *,
            multiple: int) -> Prepared:  # fmt: skip
    """Region, paste-back alpha, context crop, working size, crop image and mask, instruction (no model runs)."""
    mode = parse_mask_mode(options.mask_mode) if options.mask_mode else default_mask_mode(plan.action)
    others, other_boxes = other_instances(segmentation)
    target = segmentation.mask
    region = edit_mask(target, mode, others)
    alpha = blend_alpha(region, dilate_px=options.paste_dilate, feather_px=options.feather)
    for other in others:  # the feathered band never reaches into another instance
        alpha[other & ~target] = 0.0
    box = mask_box(alpha > 0) or (0, 0, image.width, image.height)
    area = options.resolution * options.resolution
    crop = context_box(box, image.size, margin=options.context, aspect=1.0, avoid=other_boxes)
    size = working_size((crop[2] - crop[0], crop[3] - crop[1]), area, multiple)
    work = image.crop(crop).resize(size, Image.Resampling.LANCZOS)
    inside = (alpha[crop[1]:crop[3], crop[0]:crop[2]] > 0).astype(np.uint8) * 255
    mask = Image.fromarray(inside, mode="L").resize(size, Image.Resampling.NEAREST)
    return Prepared(mode=mode, region=region, alpha=alpha, crop=crop, size=size, image=work, mask=mask,
                    instruction=crop_instruction(plan))  # fmt: skip


#: the index a sharded component's weights come with (diffusers' and transformers' names): its ``total_size``
WEIGHT_INDEXES = ("diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json")


def memory_warning(editor: str, offload: str, sizes: dict[str, int], free: int, scale: float = 1.0) -> str | None:
    """What to tell a user whose GPU has ``free`` bytes when ``--offload`` keeps more weights than that on it at once:
    with ``none`` all the components' (``sizes``: bytes as stored, times ``scale`` for the run's dtype), with
    ``model`` the largest one's; ``group`` and ``sequential`` stream them. ``None`` when they fit (activations come
    on top: a fit is no promise, a misfit is certain) or no size is known."""
    if offload in ("group", "sequential") or not sizes:
        return None
    need = (sum(sizes.values()) if offload == "none" else max(sizes.values())) * scale
    if need <= free:
        return None
    what = "weights take" if offload == "none" else f"largest part ({max(sizes, key=sizes.__getitem__)}) takes"
    less = ("--offload model (one part on the GPU at a time), group or sequential (weights streamed layer by layer)"
            if offload == "none" else "--offload group or sequential (weights streamed layer by layer)")  # fmt: skip
    return (f"the {editor} editor's {what} {need / 1e9:.1f} GB of GPU memory with --offload {offload}, and the GPU "
            f"has {free / 1e9:.1f} GB free: it will run out of memory once loaded; {less} need less")


@contextmanager
def oom_guard(editor: str, offload: str) -> Iterator[None]:
    """Turn a CUDA out-of-memory error into one :class:`ModelUnavailable` line (exit 5) naming ``--offload``."""
    import torch

    try:
        yield
    except torch.cuda.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        streamed = "--offload group or --offload sequential (weights streamed layer by layer: least memory)"
        hint = (f"--offload model (one model on the GPU at a time), {streamed}" if offload == "none"
                else streamed if offload == "model" else "a smaller --resolution or a GPU with more memory")  # fmt: skip
        raise ModelUnavailable(f"the GPU ran out of memory running the {editor} editor (offload {offload}); rerun "
                               f"with {hint}, --dtype bfloat16, or a smaller --resolution") from None  # fmt: skip


class InstructionEditor:
    """Shared by the ``qwen-edit`` and ``kontext`` editors; subclasses set ``name``, ``role``, ``pipelines`` (the
    model_index ``_class_name`` values of checkpoints they run), ``transformer`` (its class name) and implement
    :meth:`multiple`, :meth:`components` and :meth:`call`."""

    name: str
    role: str
    family: str
    pipelines: frozenset[str]
    transformer: str
    #: (the plain edit pipeline, the mask-aware one) as diffusers class names
    pipeline_classes: tuple[str, str]

    def __init__(self, store: Any, options: InstructionEditOptions, model: str | None = None) -> None:
        self.store = store
        self.options = options
        self.model_id = model or store.model_id(self.role)
        self.calls = 0
        self._pipe: Any = None

    def config(self, filename: str, *, required: bool = True) -> Any:
        """One JSON file of the checkpoint as a dict (None when ``required`` is off and it is absent)."""
        return self.store.config(self.role, filename, self.model_id, required=required)

    def check(self) -> None:
        """Preflight (config files only, no weight): the checkpoint is a pipeline of this editor's family."""
        index = self.config("model_index.json") or {}
        found = index.get("_class_name")
        transformer = (index.get("transformer") or [None, None])[1]
        if found not in self.pipelines or transformer != self.transformer:
            names = f"{found!r}" + (f" with a {transformer!r} transformer" if transformer else ", no transformer")
            given = self.model_id != self.store.model_id(self.role)  # the stage's own (--editor-model)
            where = "--editor-model" if given else f"--{self.role}-model or {_env(self.role)}"
            raise ModelUnavailable(
                f"{self.model_id!r} is not a {self.family} checkpoint (its model_index.json names {names}; the "
                f"{self.name} editor runs {' or '.join(sorted(self.pipelines))}) -- point {where} at one"
            )

    def weight_sizes(self) -> dict[str, int]:
        """Bytes of each sharded component's weights as stored (its safetensors index's ``total_size``; the
        big parts of these checkpoints are sharded, their small VAEs and CLIP encoders are not), read from the
        checkpoint's JSON files alone."""
        index = self.config("model_index.json") or {}
        sizes = {}
        for part, value in index.items():
            if isinstance(value, list) and len(value) == 2 and value[0]:
                found = (self.config(f"{part}/{name}", required=False) for name in WEIGHT_INDEXES)
                total = next((int((f.get("metadata") or {}).get("total_size", 0)) for f in found if f), 0)
                if total:
                    sizes[part] = total
        return sizes

    def check_memory(self, free: int) -> str | None:
        """:func:`memory_warning` for this checkpoint, the store's offload plan and dtype, and ``free`` bytes."""
        import torch

        scale = torch.finfo(self.store.dtype).bits / 16  # sharded weights are stored in 16 bits
        return memory_warning(self.name, self.store.settings.offload, self.weight_sizes(), free, scale)

    def multiple(self) -> int:
        """Working sizes are multiples of this (VAE downsampling x transformer patch 2)."""
        raise NotImplementedError

    def components(self) -> dict[str, Any]:
        """The pipeline's components from the store (loaded once; the offload plan applied)."""
        raise NotImplementedError

    def pipeline(self) -> Any:
        """The diffusers pipeline over the store's components (built once): the mask-aware one where it exists and
        ``mask_aware`` is on. Under ``--offload model`` on an accelerator its own ``enable_model_cpu_offload`` moves
        one component at a time to the device (the store left the big ones on the CPU); ``sequential`` streaming
        was set up by the store when the components loaded."""
        import diffusers

        components = self.components()  # every call: the store's memory plan sees the model in use
        if self._pipe is None:
            plain, inpaint = self.pipeline_classes
            cls = getattr(diffusers, inpaint, None) if self.options.mask_aware else None
            pipe = (cls or getattr(diffusers, plain))(**components)
            pipe.set_progress_bar_config(disable=True)
            if self.store.settings.offload == "model" and self.store.device.type != "cpu":
                pipe.enable_model_cpu_offload(device=self.store.device)
            self._pipe = pipe
        else:
            self._pipe.scheduler = components["scheduler"]  # a fresh sampler state per edit
        return self._pipe

    def call(self, pipe: Any, prep: Prepared, seed: int) -> Image.Image:
        """One pipeline call on the prepared crop; the edited crop at the pipeline's output size."""
        raise NotImplementedError

    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        """Crop, rewrite, run the model on the crop, paste back (see the module docstring)."""
        import torch

        self.check()
        if self._pipe is None and self.store.device.type == "cuda":  # before minutes of loading, not after
            warning = self.check_memory(torch.cuda.mem_get_info(self.store.device)[0])
            if warning:
                warnings.warn(warning, RefEditWarning, stacklevel=2)
        prep = prepare(image, plan, segmentation, self.options, multiple=self.multiple())
        offload = self.store.settings.offload
        with oom_guard(self.name, offload), torch.inference_mode():
            pipe = self.pipeline()
            edited_work = self.call(pipe, prep, seed).convert("RGB")
        self.calls += 1
        out = paste_back(image, edited_work, CropPlan(prep.crop), prep.alpha)
        edited = Image.fromarray(out, mode="RGB")
        metrics = outside_metrics(image_array(image), out, prep.alpha, segmentation.mask)
        parameters = {
            "editor": self.name, "model": self.model_id, "pipeline": type(pipe).__name__, **asdict(self.options),
            "mask_mode": str(prep.mode), "seed": seed, "crop": list(prep.crop), "working_size": list(prep.size),
            "prompt": prep.instruction, "device": str(self.store.device),
            "dtype": str(self.store.dtype).replace("torch.", ""), "offload": offload,
        }  # fmt: skip
        return EditResult(image=edited, plan=plan, segmentation=segmentation, parameters=parameters, metrics=metrics)


def _env(role: str) -> str:
    from refedit.config import env_var

    return env_var(role)


def _generator(seed: int) -> Any:
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


class QwenEditEditor(InstructionEditor):
    """Qwen-Image-Edit(-2509): ``QwenImageEditInpaintPipeline`` (mask-aware) or ``QwenImageEditPlusPipeline``."""

    name, role, family = "qwen-edit", "qwen-edit", "Qwen-Image-Edit"
    pipelines = frozenset({"QwenImageEditPlusPipeline", "QwenImageEditPipeline", "QwenImageEditInpaintPipeline"})
    transformer = "QwenImageTransformer2DModel"
    pipeline_classes = ("QwenImageEditPlusPipeline", "QwenImageEditInpaintPipeline")

    def multiple(self) -> int:
        return 2 ** len(self.config("vae/config.json").get("temperal_downsample", [0, 0, 0])) * 2

    def components(self) -> dict[str, Any]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        get = lambda c: self.store.get(self.role, c, self.model_id)  # noqa: E731
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(self.config("scheduler/scheduler_config.json"))
        return {"scheduler": scheduler, "vae": get("qwen_vae"), "text_encoder": get("qwen_text_encoder"),
                "tokenizer": get("qwen_tokenizer"), "processor": get("qwen_processor"),
                "transformer": get("qwen_transformer")}  # fmt: skip

    def call(self, pipe: Any, prep: Prepared, seed: int) -> Image.Image:
        opts = self.options
        kwargs: dict[str, Any] = dict(image=prep.image, prompt=prep.instruction, negative_prompt=" ",
                                      true_cfg_scale=opts.guidance, num_inference_steps=opts.steps,
                                      generator=_generator(seed), max_sequence_length=opts.max_sequence_length)  # fmt: skip
        if "Inpaint" in type(pipe).__name__:
            kwargs.update(mask_image=prep.mask, strength=opts.strength)
            with working_area(pipe, prep.size):
                return pipe(**kwargs).images[0]
        kwargs.update(width=prep.size[0], height=prep.size[1])
        return pipe(**kwargs).images[0]


_AREA_LOCK = threading.Lock()


@contextmanager
def working_area(pipe: Any, size: tuple[int, int]) -> Iterator[None]:
    """Make ``QwenImageEditInpaintPipeline`` work at ``size`` (W, H): it sizes its latents by its module's
    ``calculate_dimensions(1024 * 1024, aspect)`` whatever ``height``/``width`` say, so ``--resolution`` (less memory
    and time) was ignored and the record named a working size never used. The function is swapped for one that
    answers ``size`` (the crop's working size: its aspect, a multiple of the VAE's) while the call runs; one call
    at a time in the process (a module attribute is shared)."""
    module = sys.modules[type(pipe).__module__]
    original = getattr(module, "calculate_dimensions", None)
    if original is None:  # another diffusers: nothing to steer
        yield
        return
    w, h = size
    with _AREA_LOCK:
        module.calculate_dimensions = lambda target_area, ratio: (w, h, None)
        try:
            yield
        finally:
            module.calculate_dimensions = original


class KontextEditor(InstructionEditor):
    """FLUX.1 Kontext [dev]: ``FluxKontextInpaintPipeline`` (mask-aware) or ``FluxKontextPipeline``."""

    name, role, family = "kontext", "kontext", "FLUX.1 Kontext"
    pipelines = frozenset({"FluxKontextPipeline", "FluxKontextInpaintPipeline"})
    transformer = "FluxTransformer2DModel"
    pipeline_classes = ("FluxKontextPipeline", "FluxKontextInpaintPipeline")

    def multiple(self) -> int:
        return 2 ** (len(self.config("vae/config.json").get("block_out_channels", [0] * 4)) - 1) * 2

    def components(self) -> dict[str, Any]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        get = lambda c: self.store.get(self.role, c, self.model_id)  # noqa: E731
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(self.config("scheduler/scheduler_config.json"))
        return {"scheduler": scheduler, "vae": get("vae"), "text_encoder": get("text_encoder"),
                "tokenizer": get("tokenizer"), "text_encoder_2": get("t5_encoder"), "tokenizer_2": get("t5_tokenizer"),
                "transformer": get("flux_transformer")}  # fmt: skip

    def call(self, pipe: Any, prep: Prepared, seed: int) -> Image.Image:
        opts = self.options
        w, h = prep.size
        kwargs: dict[str, Any] = dict(image=prep.image, prompt=prep.instruction, guidance_scale=opts.guidance,
                                      num_inference_steps=opts.steps, width=w, height=h, max_area=w * h,
                                      _auto_resize=False, generator=_generator(seed),
                                      max_sequence_length=opts.max_sequence_length)  # fmt: skip
        if "Inpaint" in type(pipe).__name__:
            kwargs.update(mask_image=prep.mask, strength=opts.strength)
        return pipe(**kwargs).images[0]
