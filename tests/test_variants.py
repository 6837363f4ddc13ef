"""Issue 14: one inversion for many encoding ratios (a sweep), several outputs per edit (one latent batch), and
``--auto-ratio``, on the tiny Stable Diffusion through the ordinary from_pretrained paths. UNet calls are counted
with a forward hook on the UNet itself, never the editor's own counter."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.core import ddim
from refedit.errors import BadInput
from refedit.pipeline.artifacts import EditResult, RatioChoice, Segmentation
from refedit.pipeline.edit.autoratio import directional_similarity
from refedit.pipeline.edit.diffedit import DiffEditEditor, pick_ratio
from refedit.pipeline.edit.options import DiffEditOptions, parse_ratios, planned_labels
from refedit.pipeline.models import ModelStore
from refedit.pipeline.parse.rules import RulesParser

from .conftest import EXAMPLES
from .hooks import UNetCall, ddim_timesteps, record_unet_calls

PLAN = RulesParser().parse(instruction="replace the cup with a bowl")
T = 10
IMG = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((64, 64))
_y, _x = np.ogrid[:64, :64]
MASK = ((_x - 32) / 20) ** 2 + ((_y - 32) / 20) ** 2 <= 1
RATIOS = (0.2, 0.4, 0.5, 0.7, 0.9)


def editor(settings, **opts):  # type: ignore[no-untyped-def]
    return DiffEditEditor(ModelStore(settings), DiffEditOptions(**{"steps": T, "resolution": 64, **opts}))


def n_steps(r: float) -> int:
    """⌈r·T⌉ by hand (the issue's count), not the editor's own function."""
    return math.ceil(round(r * T, 6))


def run(ed, seed=3):  # type: ignore[no-untyped-def]
    return ed.edit(image=IMG, plan=PLAN, segmentation=Segmentation(MASK), seed=seed)


# --------------------------------------------------------------------------- the must-shows
def test_a_sweep_of_5_ratios_costs_one_inversion_plus_the_denoising_runs(tiny_settings):
    ed = editor(tiny_settings, encode_ratios=",".join(map(str, RATIOS)))
    with record_unet_calls(ed.sd.unet) as seen:
        res = run(ed)
    schedule = ddim_timesteps(ed.sd.scheduler_config, T)  # diffusers' own T-step DDIM schedule, descending
    r_max = max(RATIOS)
    inversion = [UNetCall(1, t) for t in reversed(schedule[-n_steps(r_max):])]  # ⌈r_max·T⌉, upwards, once
    denoising = [UNetCall(2, t) for r in RATIOS for t in schedule[-n_steps(r):]]  # Σ⌈r_i·T⌉, guided
    assert seen == inversion + denoising
    assert len(seen) == 9 + (2 + 4 + 5 + 7 + 9)  # the same by hand: 36, where 5 single runs take 2·27 = 54
    assert [v.label for v in res.variants] == ["r0.20", "r0.40", "r0.50", "r0.70", "r0.90"]
    assert [v.encode_ratio for v in res.variants] == list(RATIOS)


def test_a_joint_sweep_shares_the_denoising_calls(tiny_settings):
    """On a GPU (forced here) the ratios' runs share UNet calls: the same latents evaluated in 9 calls, not 27."""
    ed = editor(tiny_settings, encode_ratios=",".join(map(str, RATIOS)))
    ed.joint_sweep = True
    with record_unet_calls(ed.sd.unet) as seen:
        res = run(ed)
    schedule = ddim_timesteps(ed.sd.scheduler_config, T)
    r_max = max(RATIOS)
    inversion = [UNetCall(1, t) for t in reversed(schedule[-n_steps(r_max):])]
    # then one guided call per timestep of the longest run, for every run under way at that timestep: each ratio's
    # run joins at its own t_{r_i}, so the calls evaluate Σ⌈r_i·T⌉ latents (x 2 with guidance)
    denoising = [UNetCall(2 * sum(1 for r in RATIOS if t in schedule[-n_steps(r):]), t) for t in schedule[-n_steps(r_max):]]
    assert seen == inversion + denoising
    assert len(seen) == 9 + 9  # by hand: 18 UNet calls, where 5 single runs take 2·27 = 54
    assert sum(c.batch for c in denoising) // 2 == 2 + 4 + 5 + 7 + 9  # Σ⌈r_i·T⌉ = 27 latents denoised
    assert [c.batch for c in denoising] == [2, 2, 4, 4, 6, 8, 8, 10, 10]  # the same by hand
    assert [v.label for v in res.variants] == ["r0.20", "r0.40", "r0.50", "r0.70", "r0.90"]
    single = run(editor(tiny_settings, encode_ratio=0.4))
    diff = np.abs(np.asarray(single.image).astype(int) - np.asarray(res.variants[1].image).astype(int))
    assert diff.max() <= 1  # float32 summation order of a larger batch: one grey level at most


def test_each_ratio_of_a_sweep_equals_a_single_run_with_the_same_seed(tiny_settings):
    sweep = run(editor(tiny_settings, encode_ratios=",".join(map(str, RATIOS))))
    for v in sweep.variants:
        single = run(editor(tiny_settings, encode_ratio=v.encode_ratio))
        assert not single.variants and single.parameters["encode_ratio"] == v.encode_ratio
        assert np.array_equal(np.asarray(single.image), np.asarray(v.image)), v.label
    # and in latent space, within 1e-5: the shortened trajectory is the smaller ratio's own inversion
    ed = editor(tiny_settings)
    z0 = ed.sd.encode_image(ed.region(IMG, Segmentation(MASK)).image, ed.sd.generator(3))
    mask = torch.ones(1, 1, *z0.shape[-2:])
    full = ed.invert(z0, PLAN.source_caption, max(RATIOS))
    for r in RATIOS:
        own = ed.invert(z0, PLAN.source_caption, r)
        part = full.shortened(n_steps(r))
        assert part.schedule == own.schedule
        assert all((a - b).abs().max() <= 1e-5 for a, b in zip(part.latents, own.latents, strict=True))
        a = ed.denoise(part, PLAN.edited_caption, mask, 7.5)
        b = ed.denoise(own, PLAN.edited_caption, mask, 7.5)
        assert (a - b).abs().max().item() <= 1e-5, r
    # the joint denoising of a GPU sweep against each ratio's own denoising, deterministic and stochastic (η = 1):
    # the UNet sees larger batches, whose float32 summation order moves latents by ~2e-5 (relative 1e-5 to 2.5e-5
    # depending on the CPU's kernels; a wrong timestep or noise would move them by their own scale)
    together = ed.denoise_sweep(full, [n_steps(r) for r in RATIOS], PLAN.edited_caption, mask, 7.5)
    seeds = (11, 12)
    noisy = ed.denoise_sweep(full, [n_steps(r) for r in RATIOS], PLAN.edited_caption, mask, 7.5, eta=1.0, noise_seeds=seeds)
    def relative(a: torch.Tensor, b: torch.Tensor) -> float:  # the largest difference against the latents' scale
        return ((a - b).abs().max() / b.abs().max()).item()

    for k, r in enumerate(RATIOS):
        part = full.shortened(n_steps(r))
        assert relative(together[k], ed.denoise(part, PLAN.edited_caption, mask, 7.5)) <= 1e-4, r
        alone = ed.denoise(part, PLAN.edited_caption, mask, 7.5, eta=1.0, noise_seeds=seeds)
        assert noisy[k].shape[0] == 2 and relative(noisy[k], alone) <= 1e-4, r


def test_four_outputs_cost_one_inversion_and_batched_denoising(tiny_settings):
    ed = editor(tiny_settings, num_outputs=4)
    with record_unet_calls(ed.sd.unet) as seen:
        res = run(ed)
    lowest = ddim_timesteps(ed.sd.scheduler_config, T)[-n_steps(0.5):]
    assert seen == [UNetCall(1, t) for t in reversed(lowest)] + [UNetCall(8, t) for t in lowest]  # 4 x [uncond, cond]
    assert [v.label for v in res.variants] == ["1", "2", "3", "4"] and res.parameters["eta"] == 1.0
    images = [np.asarray(v.image).astype(int) for v in res.variants]
    assert all(not np.array_equal(images[0], im) for im in images[1:])  # stochastic DDIM: four different edits
    from refedit.core.masks import dilate

    src = np.asarray(IMG).astype(int)
    far = ~dilate(MASK, ed.options.paste_dilate + ed.options.feather + 1)  # outside the mask and its paste margin
    assert all(np.array_equal(im[far], src[far]) for im in images)  # every output keeps the input there


def test_each_output_equals_its_single_run(tiny_settings):
    """Output k of ``num_outputs=4`` is the single run ``variant=k`` (same seed, and η 1 as the batch had: the
    variant given is one of several; it took η 0 and differed by 35 grey levels): identical noise streams and
    inversion; only the UNet's batch size differs, whose float32 summation order moves latents by ~2e-5 (relative
    5e-6), so images agree to one grey level."""
    batch = run(editor(tiny_settings, num_outputs=4))
    for v in batch.variants:
        single = run(editor(tiny_settings, variant=v.variant))
        assert single.parameters["eta"] == 1.0 and single.parameters["variant"] == v.variant
        diff = np.abs(np.asarray(single.image).astype(int) - np.asarray(v.image).astype(int))
        assert diff.max() <= 1, v.label
    ed = editor(tiny_settings, num_outputs=4)
    z0 = ed.sd.encode_image(ed.region(IMG, Segmentation(MASK)).image, ed.sd.generator(3))
    inv = ed.invert(z0, PLAN.source_caption)
    mask = torch.ones(1, 1, *z0.shape[-2:])
    seeds = ed.noise_seeds(3)
    together = ed.denoise(inv, PLAN.edited_caption, mask, 7.5, eta=1.0, noise_seeds=seeds)
    for k, s in enumerate(seeds):
        alone = ed.denoise(inv, PLAN.edited_caption, mask, 7.5, eta=1.0, noise_seeds=(s,))
        assert (alone[0] - together[k]).abs().max().item() <= 1e-4


def test_the_inversion_depends_on_the_seed_only_through_the_vae_sample(tiny_settings):
    """DDIM inversion is deterministic: the same z_0 inverts to the same trajectory, bit for bit; the seed reaches
    it through the VAE posterior sample of z_0 alone. So N outputs share one inversion (the request seed's) and
    differ by their stochastic-DDIM noise."""
    ed = editor(tiny_settings)
    work = ed.region(IMG, Segmentation(MASK)).image
    z1, z2 = (ed.sd.encode_image(work, ed.sd.generator(s)) for s in (1, 2))
    assert not torch.equal(z1, z2)  # different seeds, different posterior samples
    a, b = ed.invert(z1, PLAN.source_caption), ed.invert(z1.clone(), PLAN.source_caption)
    assert all(torch.equal(x, y) for x, y in zip(a.latents, b.latents, strict=True))
    with pytest.raises(ValueError, match="one noise seed per output"):
        ed.denoise(a, PLAN.edited_caption, torch.ones(1, 1, *z1.shape[-2:]), 7.5, eta=1.0)


def test_a_smaller_ratio_reuses_the_cached_longer_inversion(tiny_settings):
    ed = editor(tiny_settings, encode_ratio=0.9)
    run(ed)
    assert ed.unet_calls == 2 * n_steps(0.9)
    ed.options = DiffEditOptions(steps=T, resolution=64, encode_ratio=0.4)
    run(ed)
    assert ed.unet_calls == 2 * n_steps(0.9) + n_steps(0.4)  # denoising only: the inversion is the longer one's start


# --------------------------------------------------------------------------- stochastic DDIM against diffusers
@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_stochastic_step_is_diffusers_ddim_step_with_eta(tiny_settings, eta):
    from diffusers import DDIMScheduler

    ed = editor(tiny_settings)
    oracle = DDIMScheduler.from_config(ed.sd.scheduler_config)
    oracle.set_timesteps(T)
    sched = ed.sd.ddim_schedule(T, 1.0)
    g = torch.Generator().manual_seed(0)
    x, eps, z = (torch.randn(1, 4, 8, 8, generator=g) for _ in range(3))
    for k, t in enumerate(sched.timesteps):
        a, a_prev = sched.alphas[k], sched.alphas_prev[k]
        ours = ddim.stochastic_ddim_step(x, eps, a, a_prev, ddim.ddim_sigma(a, a_prev, eta), z)
        theirs = oracle.step(eps, t, x, eta=eta, variance_noise=z).prev_sample
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert ddim.ddim_sigma(0.5, 0.6, 0.0) == 0.0


# --------------------------------------------------------------------------- auto ratio
def test_pick_ratio_takes_the_smallest_that_reaches_the_threshold():
    scores = [(0.3, 0.02), (0.4, 0.08), (0.5, 0.13), (0.6, 0.2)]
    choice = pick_ratio(scores, 0.1)
    assert choice.ratio == 0.5 and choice.reached and "smallest ratio" in choice.reason and "0.40: 0.080" in choice.reason
    none = pick_ratio(scores[:2], 0.1)
    assert none.ratio == 0.4 and not none.reached and "no ratio reached" in none.reason


def test_directional_similarity_is_the_cosine_of_the_two_changes():
    src_img, src_txt = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    towards = torch.tensor([[1.0, 0.0, 1.0]])  # moved by (0, 0, 1), the text by (0, -1, 1): cos = 1/√2
    away = torch.tensor([[1.0, 0.0, -1.0]])
    text_edit = torch.tensor([0.0, 0.0, 1.0])
    assert directional_similarity(src_img, towards, src_txt, text_edit).item() == pytest.approx(1 / math.sqrt(2))
    assert directional_similarity(src_img, away, src_txt, text_edit).item() == pytest.approx(-1 / math.sqrt(2))


@pytest.mark.parametrize("threshold,ratios_tried", [(-1.0, 1), (1.0, 3)])
def test_auto_ratio_with_the_tiny_clip(tiny_settings, threshold, ratios_tried):
    """Any similarity reaches -1 (the first ratio is kept, the others never denoised); none reaches 1 (all three
    tried, the best kept). The CLIP role is loaded through from_pretrained."""
    ed = editor(tiny_settings, encode_ratios="0.3,0.5,0.7", auto_ratio=True, auto_threshold=threshold)
    res = run(ed)
    choice = res.ratio_choice
    assert isinstance(choice, RatioChoice) and len(choice.scores) == ratios_tried == len(res.variants)
    assert ed.unet_calls == n_steps(0.7) + sum(n_steps(r) for r in (0.3, 0.5, 0.7)[:ratios_tried])
    if threshold < 0:
        assert choice.ratio == 0.3 and choice.reached
    else:
        assert not choice.reached and choice.ratio == max(choice.scores, key=lambda s: s[1])[0]
    assert res.parameters["encode_ratio"] == choice.ratio
    assert np.array_equal(np.asarray(res.image), np.asarray(next(v.image for v in res.variants if v.encode_ratio == choice.ratio)))


# --------------------------------------------------------------------------- options and artifacts
@pytest.mark.parametrize("text,ratios", [("0.3:0.8:0.1", (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)), ("0.7,0.3,0.5", (0.3, 0.5, 0.7)),
                                         ("0.3:0.8:0.2", (0.3, 0.5, 0.7)), ([0.5, 0.5], (0.5,))])  # fmt: skip
def test_parse_ratios(text, ratios):
    assert parse_ratios(text) == ratios


@pytest.mark.parametrize("bad", ["0:0.5:0.1", "0.3:0.8:0", "0.8:0.3:0.1", "a,b", "0.5,1.5", "0.1:1:0.01"])
def test_bad_ratios(bad):
    with pytest.raises(BadInput):
        parse_ratios(bad)


def test_planned_labels_follow_the_options():
    assert planned_labels({"encode_ratios": "0.3,0.5"}) == ["r0.30", "r0.50"]
    assert planned_labels({"num_outputs": 2, "variant": 3}) == ["3", "4"]
    assert planned_labels({"encode_ratios": "0.3,0.5", "num_outputs": 2}) == ["r0.30_1", "r0.30_2", "r0.50_1", "r0.50_2"]
    assert planned_labels({"encode_ratio": 0.4}) == [] and planned_labels({"encode_ratios": "0.3,0.5", "auto_ratio": True}) == []


def test_a_result_with_variants_round_trips(tiny_settings, tmp_path):
    res = run(editor(tiny_settings, encode_ratios="0.3,0.6", num_outputs=2))
    paths = []
    for v in res.variants:
        paths.append(tmp_path / f"{v.label}.png")
        v.image.save(paths[-1])
    back = EditResult.from_dict(json.loads(json.dumps(res.to_dict(variant_paths=paths))))
    assert [(v.label, v.encode_ratio, v.variant) for v in back.variants] == [("r0.30_1", 0.3, 1), ("r0.30_2", 0.3, 2),
                                                                            ("r0.60_1", 0.6, 1), ("r0.60_2", 0.6, 2)]  # fmt: skip
    assert all(np.array_equal(np.asarray(a.image), np.asarray(b.image)) for a, b in zip(res.variants, back.variants))


# --------------------------------------------------------------------------- the command line
FAST = ["--steps", "4", "--resolution", "64"]


@pytest.fixture
def cup_mask(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "mask.png"
    w, h = Image.open(EXAMPLES / "coffee.jpg").size
    y, x = np.ogrid[:h, :w]
    Image.fromarray((((x - w / 2) / (w / 4)) ** 2 + ((y - h / 2) / (h / 4)) ** 2 <= 1).astype(np.uint8) * 255).save(path)
    return path


@pytest.mark.parametrize("args,labels", [(["--encode-ratio", "0.3,0.5,0.7"], ["r0.30", "r0.50", "r0.70"]),
                                         (["--sweep", "0.3:0.7:0.2"], ["r0.30", "r0.50", "r0.70"]),
                                         (["--num-outputs", "3"], ["1", "2", "3"])])  # fmt: skip
def test_cli_writes_each_result_and_a_contact_sheet(tmp_path, tiny_env, cup_mask, args, labels):
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "coffee.jpg"), "replace the cup with a bowl", "--mask",
                                  str(cup_mask), "-o", str(out), "--json", *args, *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    written = [tmp_path / f"out_{label}.png" for label in labels]
    assert [v["image"] for v in record["variants"]] == [str(p) for p in written] and all(p.exists() for p in written)
    assert record["contact_sheet"] == str(tmp_path / "out_sheet.png") and not out.exists()
    size = Image.open(EXAMPLES / "coffee.jpg").size
    assert all(Image.open(p).size == size for p in written)
    sheet = Image.open(tmp_path / "out_sheet.png")
    assert sheet.width > sheet.height and sheet.width >= (len(labels) + 2) * 256 * size[0] / size[1]  # input, mask, each


def test_cli_refuses_several_results_on_stdout(tiny_env, cup_mask):
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "coffee.jpg"), "replace the cup with a bowl", "--mask",
                                  str(cup_mask), "-o", "-", "--num-outputs", "2", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and "give -o FILE" in r.stderr


@pytest.mark.parametrize("name,args", [("v_sheet.png", ["--num-outputs", "2"]), ("v_r0.30.png", ["--encode-ratio", "0.3,0.5"]),
                                       ("v_2.png", ["--num-outputs", "2"])])  # fmt: skip
def test_a_result_or_the_sheet_that_would_be_the_input_is_refused_before_any_work(tmp_path, tiny_env, cup_mask, name,
                                                                                    args):  # fmt: skip
    """`-o v.png --num-outputs 2` on an input called v_sheet.png wrote the contact sheet over the photo (the sheet was
    saved without a check); a result named like the input was refused only after the whole edit."""
    photo = tmp_path / name
    photo.write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    before = photo.read_bytes()
    r = CliRunner().invoke(main, ["edit", str(photo), "replace the cup with a bowl", "--mask", str(cup_mask),
                                  "-o", str(tmp_path / "v.png"), *args, *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == BadInput.exit_code and "never overwrites its input" in r.stderr, r.output
    assert photo.read_bytes() == before and "invert" not in r.stderr  # refused up front: no step ran


def test_batch_writes_a_sweep_per_item_and_resumes(tmp_path, tiny_env, cup_mask):
    src = tmp_path / "in"
    src.mkdir()
    Image.open(EXAMPLES / "coffee.jpg").convert("RGB").save(src / "cup.png")
    out = tmp_path / "out"
    args = ["batch", str(src), "-i", "replace the cup with a bowl", "-o", str(out), "--encode-ratio", "0.3,0.6",
            "--box-threshold", "0", "--on-ambiguous", "best", *FAST]  # fmt: skip
    r = CliRunner().invoke(main, args, env=tiny_env)
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["cup_edited_r0.30.png", "cup_edited_r0.60.png", "cup_edited_sheet.png"]
    r = CliRunner().invoke(main, args, env=tiny_env)
    assert r.exit_code == 0 and "0 done, 1 skipped" in r.stderr


def test_auto_ratio_keeps_one_result_so_several_outputs_are_refused():
    with pytest.raises(BadInput, match="--auto-ratio keeps one result"):
        DiffEditOptions(auto_ratio=True, num_outputs=2)
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "replace the cat with a tiger", "--auto-ratio",
                                  "--num-outputs", "2"])  # fmt: skip
    assert r.exit_code == BadInput.exit_code and "--auto-ratio keeps one result" in r.stderr, r.output
