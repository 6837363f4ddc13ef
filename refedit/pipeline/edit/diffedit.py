"""The DiffEdit editor (InstructEdit Sec. 3.4, Eq. 2-4): DDIM-invert the image with the source caption to
the encoding ratio r, then denoise with the edited caption and classifier-free guidance, replacing the
latents outside the mask by the inversion trajectory's latents at every step; paste back at full
resolution so the outside of the mask is bit-identical to the input.

Where diffusers' deprecated ``StableDiffusionDiffEditPipeline`` differs (see
tests/test_diffedit_reference.py): it inverts with guidance 7.5 by default (Eq. 3 uses the plain
conditional ε), and it blends after step t_i → t_{i-1} with the inverted latent at t_i, one step noisier,
never returning to z_0 outside the mask; refedit follows Eq. 4 (same noise level, ending on z_0).

Several results from one inversion: a sweep of encoding ratios inverts once to the largest r and denoises from
each smaller ratio's point of that same trajectory (the inversion to a smaller r is the first ⌈r·T⌉ steps of
the one to a larger r, operation for operation), so it costs ⌈r_max·T⌉ + Σ⌈r_i·T⌉ UNet calls, not Σ 2⌈r_i·T⌉;
on a GPU the ratios' denoising runs also share their calls (each joins at its own timestep: ⌈r_max·T⌉ batched
calls evaluating the same Σ⌈r_i·T⌉ latents, see :meth:`DiffEditEditor.denoise_sweep`); N outputs denoise as one latent batch of N (2N with guidance) per step from the shared
inversion, each with its own stochastic-DDIM noise stream (see :class:`DiffEditOptions`)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from PIL import Image

from refedit.core import ddim
from refedit.core.noise import derived_seed
from refedit.pipeline.artifacts import EditPlan, EditResult, RatioChoice, Segmentation, Variant
from refedit.pipeline.edit.base import CheckpointEditor, WorkRegion, finish
from refedit.pipeline.edit.options import DiffEditOptions, variant_label
from refedit.pipeline.models import ModelStore
from refedit.pipeline.stages import Progress


#: the most latents one UNet call of a joint sweep denoises (twice as many rows with guidance)
SWEEP_BATCH = 8


@dataclass(frozen=True)
class Inversion:
    """The DDIM inversion trajectory: ``latents[k]`` is x at ``schedule.timesteps[k]``; ``start`` is z_0."""

    start: torch.Tensor
    latents: tuple[torch.Tensor, ...]
    schedule: ddim.Schedule

    def shortened(self, n: int) -> "Inversion":
        """The same trajectory up to its ``n`` least noisy steps: the inversion to a smaller ratio of the same T
        (the inversion walks from z_0 upwards, so those steps are computed identically either way)."""
        m = len(self.latents)
        if not 1 <= n <= m:
            raise ValueError(f"cannot shorten an inversion of {m} steps to {n}")
        if n == m:
            return self
        s, cut = self.schedule, m - n
        return Inversion(self.start, self.latents[cut:], ddim.Schedule(s.timesteps[cut:], s.alphas[cut:], s.alphas_prev[cut:]))


class DiffEditEditor(CheckpointEditor):
    """Mask-guided DDIM on a Stable Diffusion checkpoint (default editor)."""

    name, unet_type, role = "diffedit", "sd", "sd"
    options: DiffEditOptions

    def __init__(
        self,
        store: ModelStore,
        options: DiffEditOptions,
        model: str | None = None,
        progress: Progress | None = None,
        direction: Any = None,
        joint_sweep: bool | None = None,
    ) -> None:
        """``joint_sweep``: whether a sweep's runs share UNet calls (:meth:`denoise_sweep`); ``None``: on an
        accelerator, where a call's cost is mostly launching it and a larger batch comes nearly free. On a CPU the
        cost grows with the batch, so there each ratio runs on its own, bit-identical to a single-ratio edit."""
        super().__init__(store, options, model)
        self.joint_sweep = joint_sweep
        self.progress = progress
        self._inversions: OrderedDict[tuple[object, ...], Inversion] = OrderedDict()
        self._direction = direction  # the --auto-ratio scorer (CLIP directional similarity); built on first use

    def schedule(self, ratio: float | None = None) -> ddim.Schedule:
        """The partial DDIM schedule from the checkpoint's own scheduler config (SD 1.5 ships PNDM values)."""
        return self.sd.ddim_schedule(self.options.steps, self.options.encode_ratio if ratio is None else ratio)

    def _eps(self, x: torch.Tensor, t: int, text: torch.Tensor) -> torch.Tensor:
        self.unet_calls += 1
        return self.sd.eps(x, t, text)

    def _report(self, task: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(task, done, total)

    @torch.inference_mode()
    def invert(self, z0: torch.Tensor, source_caption: str, ratio: float | None = None) -> Inversion:
        """DDIM-invert z_0 with the source caption (no guidance) to ratio r (Eq. 3): ⌈r·T⌉ UNet calls."""
        sched = self.schedule(ratio)
        text = self.sd.encode_text([source_caption])
        x = z0
        latents: list[torch.Tensor] = []
        self._report("invert", 0, len(sched.timesteps))
        for k in reversed(range(len(sched.timesteps))):
            eps = self._eps(x, sched.timesteps[k], text)
            x = ddim.ddim_inverse_step(x, eps, sched.alphas_prev[k], sched.alphas[k])
            latents.append(x)
            self._report("invert", len(latents), len(sched.timesteps))
        return Inversion(start=z0, latents=tuple(reversed(latents)), schedule=sched)

    @torch.inference_mode()
    def denoise(self, inversion: Inversion, edited_caption: str, mask: torch.Tensor, guidance: float, *,
                eta: float = 0.0, noise_seeds: tuple[int, ...] = ()) -> torch.Tensor:  # fmt: skip
        """Denoise from x_{t_r} with CFG on the edited caption, keeping the inversion latents outside the mask
        (Eq. 2 and 4): ⌈r·T⌉ batched UNet calls. With ``noise_seeds`` (one per output) the outputs are one latent
        batch, and with ``eta`` > 0 each takes stochastic DDIM steps with noise from its own seed."""
        sched = inversion.schedule
        n = max(1, len(noise_seeds))
        text = self.sd.encode_text(["", edited_caption]).repeat_interleave(n, dim=0)
        start = inversion.latents[0].repeat(n, 1, 1, 1)

        def eps(x: torch.Tensor, t: int) -> torch.Tensor:
            return ddim.cfg(*self._eps(torch.cat([x, x]), t, text).chunk(2), guidance)

        def blend(k: int, x: torch.Tensor) -> torch.Tensor:  # outside the mask: the inversion's own latents
            keep = inversion.latents[k + 1] if k + 1 < len(inversion.latents) else inversion.start
            self._report("edit", k + 1, len(sched.timesteps))
            return ddim.blend_latents(x, keep, mask)

        self._report("edit", 0, len(sched.timesteps))
        if eta <= 0.0:
            return ddim.sample(start, sched, eps, blend)
        if len(noise_seeds) != n:
            raise ValueError("stochastic sampling needs one noise seed per output")
        gens = [torch.Generator().manual_seed(s) for s in noise_seeds]  # on the CPU: every device draws the same

        def noise(k: int) -> torch.Tensor:
            draws = [torch.randn(tuple(start.shape[1:]), generator=g, dtype=torch.float32) for g in gens]
            return torch.stack(draws).to(start.device, start.dtype)

        return ddim.sample(start, sched, eps, blend, eta=eta, noise=noise)

    @torch.inference_mode()
    def denoise_sweep(self, inversion: Inversion, steps: Sequence[int], edited_caption: str, mask: torch.Tensor,
                      guidance: float, *, eta: float = 0.0, noise_seeds: tuple[int, ...] = ()) -> list[torch.Tensor]:  # fmt: skip
        """:meth:`denoise` from several points of one inversion (a sweep: ``steps[i]`` = ⌈r_i·T⌉) at once: walking
        the trajectory's timesteps from the noisiest, each run joins at its own t_{r_i} and from then on shares one
        UNet call per timestep with the runs already under way (at most :data:`SWEEP_BATCH` latents a call). Each
        run's arithmetic is its single :meth:`denoise`'s: the same start, the same ᾱ pairs, the same blending
        latents, its own noise generators; only the UNet sees a larger batch. ⌈r_max·T⌉ UNet calls, not Σ⌈r_i·T⌉."""
        m, sched = len(inversion.latents), inversion.schedule
        n = max(1, len(noise_seeds))
        if eta > 0.0 and len(noise_seeds) != n:
            raise ValueError("stochastic sampling needs one noise seed per output")
        pair = self.sd.encode_text(["", edited_caption])
        texts: dict[int, torch.Tensor] = {}
        xs: dict[int, torch.Tensor] = {}
        gens = {i: [torch.Generator().manual_seed(s) for s in noise_seeds] for i in range(len(steps))} if eta > 0 else {}

        def noise(i: int, like: torch.Tensor) -> torch.Tensor:  # the run's own streams, one draw per step it takes
            draws = [torch.randn(tuple(like.shape[1:]), generator=g, dtype=torch.float32) for g in gens[i]]
            return torch.stack(draws).to(like.device, like.dtype)

        runs_per_call = max(1, SWEEP_BATCH // n)  # each run is n latents (its outputs)
        first = m - max(steps)
        self._report("edit", 0, m - first)
        for k in range(first, m):
            for i, n_i in enumerate(steps):
                if m - n_i == k:
                    xs[i] = inversion.latents[k].repeat(n, 1, 1, 1)
            active = sorted(xs)
            a, a_prev = sched.alphas[k], sched.alphas_prev[k]
            keep = inversion.latents[k + 1] if k + 1 < m else inversion.start
            for group in [active[j : j + runs_per_call] for j in range(0, len(active), runs_per_call)]:
                x = torch.cat([xs[i] for i in group])
                b = x.shape[0]
                if b not in texts:
                    texts[b] = pair.repeat_interleave(b, dim=0)
                e = ddim.cfg(*self._eps(torch.cat([x, x]), sched.timesteps[k], texts[b]).chunk(2), guidance)
                if eta > 0.0:
                    z = torch.cat([noise(i, xs[i]) for i in group])
                    x = ddim.stochastic_ddim_step(x, e, a, a_prev, ddim.ddim_sigma(a, a_prev, eta), z)
                else:
                    x = ddim.ddim_step(x, e, a, a_prev)
                x = ddim.blend_latents(x, keep, mask)
                for i, part in zip(group, x.split(n), strict=True):
                    xs[i] = part
            self._report("edit", k + 1 - first, m - first)
        return [xs[i] for i in range(len(steps))]

    def cached_inversion(self, work: Image.Image, source_caption: str, seed: int, ratio: float | None = None) -> Inversion:
        """:meth:`invert` to ``ratio`` once per (working image, source caption, T, seed, model, dtype): an inversion
        cached to a larger ratio serves a smaller one (:meth:`Inversion.shortened`), and is replaced by a
        longer one when a larger ratio is asked."""
        opts = self.options
        ratio = opts.encode_ratio if ratio is None else ratio
        n = ddim.encode_steps(opts.steps, ratio)
        key = (hash(work.tobytes()), work.size, source_caption, opts.steps, seed, self.sd.model_id,
               str(self.sd.store.dtype))  # fmt: skip
        cached = self._inversions.get(key)
        if cached is not None and len(cached.latents) >= n:
            self._inversions.move_to_end(key)
            return cached.shortened(n)
        inversion = self.invert(self.sd.encode_image(work, self.sd.generator(seed)), source_caption, ratio)
        if opts.inversion_cache > 0:
            self._inversions[key] = inversion
            self._inversions.move_to_end(key)
            while len(self._inversions) > opts.inversion_cache:
                self._inversions.popitem(last=False)
        return inversion

    def noise_seeds(self, seed: int) -> tuple[int, ...]:
        """The stochastic-DDIM noise seed of each output number (``variant`` .. ``variant`` + N − 1)."""
        first = self.options.first_variant
        return tuple(derived_seed(seed, f"ddim-eta-{v}") for v in range(first, first + self.options.num_outputs))

    def edit(self, *, image: Image.Image, plan: EditPlan, segmentation: Segmentation, seed: int) -> EditResult:
        """Edit the masked region of ``image`` as ``plan`` says; the result has the input's size. A sweep or
        several outputs give every result in ``variants`` (see :class:`DiffEditOptions`)."""
        opts = self.options
        region = self.region(image, segmentation)
        ratios = opts.ratios
        inversion = self.cached_inversion(region.image, plan.source_caption, seed, max(ratios))
        mask = region.latent_mask(tuple(inversion.start.shape[-2:]), inversion.start)
        made: list[tuple[float, int, EditResult]] = []
        scores: list[tuple[float, float]] = []
        numbers = range(opts.first_variant, opts.first_variant + opts.num_outputs)
        joint = self.joint_sweep if self.joint_sweep is not None else self.sd.store.device.type != "cpu"
        if len(ratios) > 1 and not opts.auto_ratio and joint:  # a sweep whose runs share the UNet calls
            runs = self.denoise_sweep(inversion, [ddim.encode_steps(opts.steps, r) for r in ratios], plan.edited_caption,
                                      mask, opts.guidance, eta=opts.sampling_eta, noise_seeds=self.noise_seeds(seed))  # fmt: skip
            for ratio, latents in zip(ratios, runs, strict=True):
                for number, z in zip(numbers, latents.split(1), strict=True):
                    made.append((ratio, number, self._finish(image, self.sd.decode(z), region, plan, segmentation, seed)))
            return self._assemble(made, scores)
        for ratio in ratios:  # one ratio, or --auto-ratio: in ascending order until one reaches the threshold
            part = inversion.shortened(ddim.encode_steps(opts.steps, ratio))
            latents = self.denoise(part, plan.edited_caption, mask, opts.guidance, eta=opts.sampling_eta,
                                   noise_seeds=self.noise_seeds(seed))  # fmt: skip
            for number, z in zip(numbers, latents.split(1), strict=True):
                made.append((ratio, number, self._finish(image, self.sd.decode(z), region, plan, segmentation, seed)))
            if opts.auto_ratio:  # the edited region: the crop around the mask, of the input and of each output
                box = region.crop.box
                edited = [res.image.crop(box) for r, _, res in made if r == ratio]
                scores.append((ratio, self.direction.mean_similarity(image.crop(box), edited, plan)))
                if scores[-1][1] >= opts.auto_threshold:
                    break
        return self._assemble(made, scores)

    @property
    def direction(self) -> Any:
        """The CLIP directional-similarity scorer of ``--auto-ratio`` (the ``clip`` role), loaded on first use."""
        if self._direction is None:
            from refedit.pipeline.edit.autoratio import ClipDirection

            self._direction = ClipDirection(self.sd.store)
        return self._direction

    def _finish(self, image: Image.Image, work: Image.Image, region: WorkRegion, plan: EditPlan,
                segmentation: Segmentation, seed: int) -> EditResult:  # fmt: skip
        return finish(editor=self.name, sd=self.sd, image=image, edited_work=work, region=region, plan=plan,
                      segmentation=segmentation, options=self.options, seed=seed,
                      prompt=f"{plan.source_caption} -> {plan.edited_caption}")  # fmt: skip

    def _assemble(self, made: list[tuple[float, int, EditResult]],
                  scores: list[tuple[float, float]]) -> EditResult:  # fmt: skip
        """One result from the denoised outputs: plain for a single one; else every output as a :class:`Variant`,
        the result's image being the one ``--auto-ratio`` picked (its first output), or the first."""
        opts = self.options
        choice = pick_ratio(scores, opts.auto_threshold) if opts.auto_ratio else None
        primary_ratio = choice.ratio if choice is not None else made[0][0]
        primary = next(res for r, _, res in made if r == primary_ratio)
        params = {**primary.parameters, "encode_ratio": primary_ratio, "eta": opts.sampling_eta}
        if len(made) == 1 and choice is None:
            return replace(primary, parameters=params)
        sweep, several = len(opts.ratios) > 1, opts.num_outputs > 1
        score_of = dict(scores)
        variants = tuple(Variant(image=res.image, label=variant_label(r, n, sweep, several), encode_ratio=r, variant=n,
                                 metrics=dict(res.metrics), score=score_of.get(r)) for r, n, res in made)  # fmt: skip
        return replace(primary, parameters=params, variants=variants, ratio_choice=choice)


def pick_ratio(scores: list[tuple[float, float]], threshold: float) -> RatioChoice:
    """``--auto-ratio``'s choice among (ratio, directional similarity) tried in ascending order: the smallest ratio
    that reached ``threshold``, else the best-scoring one; the reason says which and why."""
    ordered = sorted(scores)
    reached = [r for r, v in ordered if v >= threshold]
    if reached:
        r = reached[0]
        v = dict(ordered)[r]
        below = [f"{q:.2f}: {w:.3f}" for q, w in ordered if q < r]
        why = f"r={r:.2f} is the smallest ratio whose edited region reaches CLIP directional similarity {v:.3f} >= {threshold:g}"
        why += f" (smaller ratios: {', '.join(below)})" if below else ""
        return RatioChoice(ratio=r, threshold=threshold, scores=tuple(ordered), reached=True, reason=why)
    r, v = max(ordered, key=lambda rv: (rv[1], -rv[0]))
    why = (f"no ratio reached CLIP directional similarity {threshold:g} (best {v:.3f} at r={r:.2f} of "
           f"{', '.join(f'{q:.2f}' for q, _ in ordered)}); kept the best-scoring one")  # fmt: skip
    return RatioChoice(ratio=r, threshold=threshold, scores=tuple(ordered), reached=False, reason=why)
