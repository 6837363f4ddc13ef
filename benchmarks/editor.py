"""DiffEdit editor speed on the tiny Stable Diffusion: refedit's overhead over the model compute it needs, and
refedit against diffusers' (deprecated) StableDiffusionDiffEditPipeline for the same edit.

Goals (issue 5): (a) ``DiffEditEditor.edit`` end to end (working-size resize, masks, inversion, edit, decode,
full-resolution paste-back) takes at most 1.10 x the pure model compute it needs -- the same text-encoder,
VAE and UNet calls timed alone on ready-made inputs: text encoding of [source] and ["", edited], one VAE
encode, ⌈rT⌉ UNet calls at batch 1 (inversion), ⌈rT⌉ at batch 2 (guided edit), one VAE decode;
(b) refedit takes at most 0.85 x diffusers' ``generate_mask`` + ``invert`` + ``__call__`` at the same r, T
and guidance (diffusers' defaults otherwise: 10 noise maps for the mask, guided inversion).

Weights are random (a tiny model built into a temporary directory, offline): the numbers are about the code
around the models, not about image quality. The tiny VAE downsamples by 2, not 8: a 128 px working size gives
64x48 latents, about SD 1.5's 64x64 at 512 px; 256 px (``--resolution 256``) gives 128x96 latents (12288
attention tokens), where one T=50 edit takes minutes on a small CPU. A smaller working size is also the
stricter test of goal (a): refedit's fixed costs weigh more against less model compute. Each measurement is warmed up once, then repeated (rounds
interleave the three measurements so that machine load hits them alike) and the median is reported.
Always exits 0: it is a report. Run: python benchmarks/editor.py [--resolution 256] [--steps 50] ...
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("REFEDIT_CONFIG", os.devnull)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from refedit.config import Settings  # noqa: E402
from refedit.pipeline.artifacts import Segmentation  # noqa: E402
from refedit.core import ddim  # noqa: E402
from refedit.pipeline.edit.composite import blend_alpha
from refedit.core.geometry import plan_crop
from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions  # noqa: E402
from refedit.pipeline.models import ModelStore  # noqa: E402
from refedit.pipeline.parse.rules import RulesParser  # noqa: E402
from refedit.testing.tiny_models import build_tiny_sd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTION = "replace the cup with a bowl"


def cup_mask(w: int, h: int) -> np.ndarray:
    """An ellipse over the cup of examples/coffee.jpg (large enough that the editor works on the whole image)."""
    y, x = np.ogrid[:h, :w]
    return ((x - 0.5 * w) / (0.36 * w)) ** 2 + ((y - 0.47 * h) / (0.42 * h)) ** 2 <= 1


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class PureCompute:
    """The model calls ``DiffEditEditor.edit`` needs, on inputs prepared beforehand."""

    def __init__(self, editor: DiffEditEditor, work: Image.Image, source: str, edited: str) -> None:
        sd = editor.sd
        tok = sd.store.get(sd.role, "tokenizer")
        self.text_encoder = sd.store.get(sd.role, "text_encoder")
        self.unet, self.vae = sd.unet, sd.vae

        def ids(prompts: list[str]) -> torch.Tensor:
            kw = dict(padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
            return tok(prompts, **kw).input_ids.to(sd.store.device)

        self.ids1, self.ids2 = ids([source]), ids(["", edited])
        pixels = np.asarray(work, dtype=np.float32) / 127.5 - 1.0
        self.pixels = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(sd.store.device, sd.store.dtype)
        self.timesteps = [torch.tensor(t, device=sd.store.device) for t in editor.schedule().timesteps]

    @torch.no_grad()
    def __call__(self) -> None:
        emb1 = self.text_encoder(self.ids1)[0]
        emb2 = self.text_encoder(self.ids2)[0]
        z = self.vae.encode(self.pixels).latent_dist.sample(torch.Generator().manual_seed(0))
        z = z * self.vae.config.scaling_factor
        for t in self.timesteps:
            self.unet(z, t, encoder_hidden_states=emb1)
        z2 = torch.cat([z, z])
        for t in self.timesteps:
            self.unet(z2, t, encoder_hidden_states=emb2)
        self.vae.decode(z / self.vae.config.scaling_factor)


class Diffusers:
    """diffusers' DiffEdit pipeline: generate_mask + invert + __call__ on the working-size image."""

    def __init__(self, path: Path, opts: DiffEditOptions, work_size: tuple[int, int], source: str, edited: str):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import diffusers
            from diffusers import DDIMInverseScheduler, DDIMScheduler, StableDiffusionDiffEditPipeline

            diffusers.utils.logging.set_verbosity_error()
            self.pipe = StableDiffusionDiffEditPipeline.from_pretrained(
                path,
                safety_checker=None,
                requires_safety_checker=False,
                scheduler=DDIMScheduler.from_pretrained(path, subfolder="scheduler"),
                inverse_scheduler=DDIMInverseScheduler.from_pretrained(path, subfolder="scheduler"),
            )
        self.pipe.set_progress_bar_config(disable=True)
        self.opts, self.work_size, self.source, self.edited = opts, work_size, source, edited
        self.phases: dict[str, list[float]] = {"generate_mask": [], "invert": [], "__call__": []}

    def __call__(self, image: Image.Image) -> None:
        o, pipe = self.opts, self.pipe
        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        work = image.resize(self.work_size, Image.Resampling.LANCZOS)
        mask = pipe.generate_mask(
            image=work, source_prompt=self.source, target_prompt=self.edited, num_inference_steps=o.steps,
            guidance_scale=o.guidance, generator=gen,
        )  # fmt: skip
        t1 = time.perf_counter()
        latents = pipe.invert(
            prompt=self.source, image=work, num_inference_steps=o.steps, inpaint_strength=o.encode_ratio,
            generator=gen,
        ).latents  # fmt: skip
        t2 = time.perf_counter()
        pipe(
            prompt=self.edited, mask_image=mask, image_latents=latents, inpaint_strength=o.encode_ratio,
            num_inference_steps=o.steps, guidance_scale=o.guidance, generator=gen,
        )  # fmt: skip
        t3 = time.perf_counter()
        for name, dt in zip(self.phases, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            self.phases[name].append(dt)

    def given_mask(self, image: Image.Image, latent_mask: torch.Tensor) -> None:
        """Only what refedit's editor does: invert without guidance (Eq. 3) + __call__, with refedit's mask."""
        o, pipe = self.opts, self.pipe
        work = image.resize(self.work_size, Image.Resampling.LANCZOS)
        latents = pipe.invert(
            prompt=self.source, image=work, num_inference_steps=o.steps, inpaint_strength=o.encode_ratio,
            guidance_scale=1.0, generator=torch.Generator().manual_seed(0),
        ).latents  # fmt: skip
        pipe(
            prompt=self.edited, mask_image=latent_mask, image_latents=latents, inpaint_strength=o.encode_ratio,
            num_inference_steps=o.steps, guidance_scale=o.guidance,
        )  # fmt: skip


def _quiet() -> None:
    import diffusers
    import transformers

    for lib in (diffusers, transformers):
        lib.utils.logging.set_verbosity_error()
        lib.utils.logging.disable_progress_bar()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50, help="T (default 50)")
    ap.add_argument("--ratio", type=float, default=0.5, help="encoding ratio r (default 0.5)")
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--resolution", type=int, default=128, help="working long side (default 128, see above)")
    ap.add_argument("--size", default="512x384", help="input image size WxH (default 512x384)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-diffusers", action="store_true", help="only measure goal (a)")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    _quiet()
    tmp = tempfile.TemporaryDirectory(prefix="refedit-bench-")
    path = build_tiny_sd(Path(tmp.name) / "sd")
    settings = Settings.resolve(environ={"REFEDIT_SD_MODEL": str(path)}, config_file=Path(os.devnull))
    opts = DiffEditOptions(steps=args.steps, encode_ratio=args.ratio, guidance=args.guidance, resolution=args.resolution,
                           inversion_cache=0)  # every repeat does the whole edit
    editor = DiffEditEditor(ModelStore(settings), opts)
    plan = RulesParser().parse(instruction=INSTRUCTION)
    image = Image.open(ROOT / "examples" / "coffee.jpg").convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
    segmentation = Segmentation(cup_mask(w, h))

    crop = plan_crop(segmentation.mask, resolution=opts.resolution)
    work_size = editor.sd.working_size(crop.size, opts.resolution)
    n = ddim.encode_steps(opts.steps, opts.encode_ratio)
    compute = PureCompute(editor, image.crop(crop.box).resize(work_size, Image.Resampling.LANCZOS),
                          plan.source_caption, plan.edited_caption)  # fmt: skip
    reference = None if args.skip_diffusers else Diffusers(path, opts, work_size, plan.source_caption, plan.edited_caption)

    def run_refedit() -> None:
        editor.edit(image=image, plan=plan, segmentation=segmentation, seed=0)

    runs: dict[str, Callable[[], object]] = {"refedit DiffEditEditor.edit": run_refedit, "pure model compute": compute}
    if reference is not None:
        x0, y0, x1, y1 = crop.box
        alpha = blend_alpha(segmentation.mask, dilate_px=opts.paste_dilate, feather_px=opts.feather)
        latent_hw = (work_size[1] // editor.sd.vae_scale, work_size[0] // editor.sd.vae_scale)
        latent_mask = ddim.downsample_mask(torch.from_numpy(alpha[y0:y1, x0:x1] > 0), latent_hw)
        runs["diffusers DiffEdit"] = lambda: reference(image)
        runs["  diffusers, mask given, w=1 inv"] = lambda: reference.given_mask(image, latent_mask)

    print(f"tiny SD (random weights), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {editor.sd.store.device}, {editor.sd.store.dtype}")  # fmt: skip
    print(f"input {w}x{h}, crop {crop.box}, working size {work_size[0]}x{work_size[1]}, T={opts.steps}, "
          f"r={opts.encode_ratio} -> {n} steps, guidance {opts.guidance}; warm-up 1, repeats {args.repeat} (median)")  # fmt: skip
    for fn in runs.values():  # warm-up
        fn()
    if reference is not None:
        for v in reference.phases.values():
            v.clear()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, v in times.items():
        print(f"  {name:<34} median {med[name]:8.3f} s   runs {', '.join(f'{x:.3f}' for x in v)}")
    if reference is not None:
        print("    diffusers phases (median): " + ", ".join(
            f"{k} {statistics.median(v):.3f} s" for k, v in reference.phases.items()))  # fmt: skip

    ratio_a = med["refedit DiffEditEditor.edit"] / med["pure model compute"]
    print(f"(a) refedit / pure compute   = {ratio_a:.3f}  goal <= 1.10  {'MET' if ratio_a <= 1.10 else 'NOT MET'}")
    if reference is not None:
        ratio_b = med["refedit DiffEditEditor.edit"] / med["diffusers DiffEdit"]
        print(f"(b) refedit / diffusers      = {ratio_b:.3f}  goal <= 0.85  {'MET' if ratio_b <= 0.85 else 'NOT MET'}")
    if reference is not None:
        ratio_c = med["refedit DiffEditEditor.edit"] / med["  diffusers, mask given, w=1 inv"]
        print(f"    (refedit / diffusers doing only refedit's work: {ratio_c:.3f}; the gain in (b) is diffusers' "
              "mask estimation and guided inversion, which refedit does not need)")  # fmt: skip
    print(f"UNet calls: refedit {n} x batch 1 + {n} x batch 2; diffusers 1 x batch 40 (mask, 10 maps with CFG) "
          f"+ {int(opts.steps * opts.encode_ratio)} x batch 2 (guided inversion) + {int(opts.steps * opts.encode_ratio)} x batch 2")  # fmt: skip
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
