"""The current instruction editors (qwen-edit: Qwen-Image-Edit; kontext: FLUX.1 Kontext) behind refedit's mask:
tiny random-weight instances of the real architectures through diffusers' real pipelines and from_pretrained."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.config import Settings
from refedit.errors import BadInput, ModelUnavailable
from refedit.pipeline.artifacts import Candidate, EditPlan, Segmentation, Target
from refedit.pipeline.chain import build_stage
from refedit.pipeline.edit.instruction import crop_instruction
from refedit.pipeline.edit.instruction_editors import prepare
from refedit.pipeline.edit.options import KontextOptions, QwenEditOptions
from refedit.pipeline.edit.region import (
    MaskMode,
    context_box,
    default_mask_mode,
    edit_mask,
    parse_mask_mode,
    working_size,
)
from refedit.pipeline.parse.rules import RulesParser

FAST = ["--steps", "2", "--resolution", "64", "--box-threshold", "0", "--on-ambiguous", "best"]
GREEN = (0, 255, 0)


@pytest.fixture(scope="session")
def editor_env(tiny_env: dict) -> dict:
    """tiny_env points qwen-edit and kontext at the tiny pipelines (conftest's ``tiny_editors``)."""
    assert "REFEDIT_QWEN_EDIT_MODEL" in tiny_env and "REFEDIT_KONTEXT_MODEL" in tiny_env
    return tiny_env


def two_objects(size=(160, 96)):
    """A grey scene: a dark disc on the left (the target), a pure green square on the right (the other one)."""
    img = np.full((size[1], size[0], 3), 200, np.uint8)
    yy, xx = np.mgrid[: size[1], : size[0]]
    left = (xx - 35) ** 2 + (yy - 50) ** 2 <= 20**2
    right = np.zeros_like(left)
    right[30:70, 110:150] = True
    img[left] = (40, 40, 40)
    img[right] = GREEN
    return Image.fromarray(img), left, right


def plan_for(instruction: str) -> EditPlan:
    return RulesParser().parse(instruction=instruction)


# --------------------------------------------------------------------------- the rewritten instruction
@pytest.mark.parametrize("instruction,expected", [
    ("replace the left cat with a tiger", "replace the cat with a tiger"),  # the issue's own example
    ("turn the black cat on the right into a white dog", "replace the black cat with a white dog"),
    ("replace the man next to the car with a woman", "replace the man with a woman"),
    ("make the second car from the right red", "make the car red"),
    ("change the color of the left bus to green", "make the bus green"),
    ("remove the biggest dog", "remove the dog and fill in the background"),
    ("add a hat to the dog on the left", "add a hat to the dog"),
    ("add a cup to the left of the book", "add a cup to the left of the book"),
    ("replace the left cat with candles", "replace the cat with candles"),  # was "a candles"
    ("replace the dog with sunglasses", "replace the dog with sunglasses"),
    ("add a lamp between the red sofa and the chair", "add a lamp between the red sofa and the chair"),  # was "to the object"
])  # fmt: skip
def test_crop_instruction_drops_the_referring_words(instruction, expected):
    assert crop_instruction(plan_for(instruction)) == expected


def test_crop_instruction_for_a_hand_made_plan_and_a_global_edit():
    plan = EditPlan(instruction="paint the second red apple blue", action="modify",
                    target=Target(expression="second red apple", head="apple", attributes=("red",), ordinal=2),
                    replacement="blue", segmentation_prompt="red apple", source_caption="a photo of a red apple",
                    edited_caption="a photo of a blue apple", parser="test")  # fmt: skip
    assert crop_instruction(plan) == "make the red apple blue"
    assert crop_instruction(plan_for("make it look like winter")) == "make it look like winter"


# --------------------------------------------------------------------------- mask modes
@pytest.mark.parametrize("text,mode", [("object", MaskMode("object")), ("box", MaskMode("box")),
                                       ("expand:25", MaskMode("expand", 25)), ("Expand:0", MaskMode("expand", 0))])
def test_parse_mask_mode(text, mode):
    assert parse_mask_mode(text) == mode


@pytest.mark.parametrize("bad", ["", "grow", "expand", "expand:", "expand:-3", "expand:1.5", "expand:201", "box:4"])
def test_bad_mask_mode_is_bad_input(bad):
    with pytest.raises(BadInput, match="mask mode must be object, box or expand:N"):
        parse_mask_mode(bad)


def test_default_mask_mode_by_action():
    # a replacement may change the shape (room), a recolour keeps the silhouette, a removal a little room
    assert default_mask_mode("replace").kind == "expand" and default_mask_mode("replace").percent > 0
    assert default_mask_mode("modify") == MaskMode("object")
    assert default_mask_mode("remove").kind == "expand"
    assert default_mask_mode("remove").percent < default_mask_mode("replace").percent
    assert default_mask_mode("add").kind in ("box", "expand")


def test_edit_mask_modes_and_other_instances():
    mask = np.zeros((100, 100), bool)
    mask[40:60, 20:40] = True
    mask[40, 20] = mask[59, 39] = False  # not a full box
    other = np.zeros_like(mask)
    other[30:70, 42:60] = True
    assert np.array_equal(edit_mask(mask, MaskMode("object"), [other]), mask)
    box = np.zeros_like(mask)
    box[40:60, 20:40] = True
    assert np.array_equal(edit_mask(mask, MaskMode("box")), box)
    grown = np.zeros_like(mask)
    grown[35:65, 15:45] = True  # 25 % of 20 px = 5 px on every side
    assert np.array_equal(edit_mask(mask, MaskMode("expand", 25)), grown)
    cut = edit_mask(mask, MaskMode("expand", 25), [other])
    assert not (cut & other).any() and cut[mask].all() and cut.sum() == (grown & ~other).sum()


# --------------------------------------------------------------------------- the context crop
def test_context_box_margin_square_and_clamp():
    assert context_box((40, 40, 60, 60), (200, 200), margin=0.5) == (30, 30, 70, 70)
    assert context_box((40, 45, 60, 55), (200, 200), margin=0.0) == (40, 40, 60, 60)  # squared up
    x0, y0, x1, y1 = context_box((0, 0, 30, 30), (100, 50), margin=1.0)  # 90x90 wanted, shifted in and clamped
    assert (x0, y0) == (0, 0) and x1 == 90 and y1 == 50


def test_context_box_cuts_out_another_instance():
    x0, y0, x1, y1 = context_box((20, 40, 60, 80), (200, 120), margin=0.5, avoid=[(70, 40, 110, 80)])
    assert x1 <= 70 and (x0, y0) <= (20, 40) and y1 >= 80  # the other object is out, the target in
    # an overlapping instance cannot be cut out without cutting the target: the crop keeps it
    assert context_box((20, 40, 60, 80), (200, 120), margin=0.5, avoid=[(50, 40, 90, 80)]) == \
        context_box((20, 40, 60, 80), (200, 120), margin=0.5)


def test_working_size_multiples_and_area():
    w, h = working_size((300, 200), 1024 * 1024, 16)
    assert w % 16 == 0 and h % 16 == 0 and abs(w * h - 1024 * 1024) / (1024 * 1024) < 0.05
    assert abs(w / h - 1.5) < 0.02
    assert working_size((10, 300), 64 * 64, 16)[0] == 16  # never below one multiple


def test_prepared_crop_does_not_contain_the_other_object():
    img, left, right = two_objects()
    seg = Segmentation(mask=left, candidates=(Candidate((15, 30, 56, 71), 0.9, "cat", left),
                                              Candidate((110, 30, 150, 70), 0.8, "cat", right)),
                       chosen=(0,), reason="left-most of 2")  # fmt: skip
    prep = prepare(img, plan_for("replace the left cat with a tiger"), seg, QwenEditOptions(resolution=64), multiple=16)
    x0, y0, x1, y1 = prep.crop
    assert x1 <= 110 and not right[y0:y1, x0:x1].any()
    assert not (np.asarray(prep.image) == GREEN).all(axis=-1).any()
    assert prep.size[0] % 16 == 0 and prep.size[1] % 16 == 0 and prep.mask.size == prep.size
    assert prep.instruction == "replace the cat with a tiger" and prep.mode == default_mask_mode("replace")
    assert not (prep.alpha[right] > 0).any()  # the paste-back never touches the other instance


# --------------------------------------------------------------------------- end to end on tiny models
def _region_bound(mask: np.ndarray, percent: int, pad: int) -> np.ndarray:
    """Everything the paste-back may touch for expand:percent: the box grown by percent %, then by ``pad``."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    dx, dy = -(-percent * (x1 - x0) // 100), -(-percent * (y1 - y0) // 100)
    out = np.zeros_like(mask)
    out[max(0, y0 - dy - pad): y1 + dy + pad, max(0, x0 - dx - pad): x1 + dx + pad] = True
    return out


@pytest.mark.parametrize("segmenter", ["grounded-sam", "sam3"])
@pytest.mark.parametrize("editor,pipeline", [("qwen-edit", "QwenImageEditInpaintPipeline"),
                                             ("kontext", "FluxKontextInpaintPipeline")])
def test_cli_edit_end_to_end(segmenter, editor, pipeline, tmp_path, editor_env):
    """The issue's chains (``--segmenter sam3 --editor qwen-edit|kontext``, and Grounded-SAM's): every pixel the
    paste-back cannot reach is the input's, bit for bit."""
    img, _, _ = two_objects()
    src_path, out, mask_out = tmp_path / "cats.png", tmp_path / "out.png", tmp_path / "mask.png"
    img.save(src_path)
    r = CliRunner().invoke(main, ["edit", str(src_path), "replace the left cat with a tiger", "--editor", editor,
                                  "--segmenter", segmenter, "-o", str(out), "--save-mask", str(mask_out), "--json",
                                  *FAST], env=editor_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["segmentation"]["segmenter"] == segmenter
    p = record["parameters"]
    assert p["editor"] == editor and p["pipeline"] == pipeline and p["prompt"] == "replace the cat with a tiger"
    assert p["mask_mode"] == str(default_mask_mode("replace"))
    src, res = np.asarray(img), np.asarray(Image.open(out))
    assert res.shape == src.shape
    mask = np.asarray(Image.open(mask_out)) > 127
    outside = ~_region_bound(mask, default_mask_mode("replace").percent, p["paste_dilate"] + p["feather"] + 1)
    assert np.array_equal(src[outside], res[outside])
    assert record["metrics"]["outside_psnr"] == "inf"
    assert not np.array_equal(src, res)  # the model's output did land inside


@pytest.mark.parametrize("editor,options", [("kontext", {"mask_aware": False}), ("qwen-edit", {"mask_aware": False})])
def test_plain_pipeline_on_a_given_mask_keeps_the_other_object(editor, options, editor_env):
    settings = Settings.resolve(environ=editor_env)
    stage = build_stage("editor", editor, settings, steps=2, resolution=64, mask_mode="box", **options)
    img, left, right = two_objects()
    seg = Segmentation(mask=left, candidates=(Candidate((15, 30, 56, 71), 0.9, "cat", left),
                                              Candidate((110, 30, 150, 70), 0.8, "cat", right)), chosen=(0,))  # fmt: skip
    seen: list[torch.Tensor] = []
    vae = stage.store.get(editor, "qwen_vae" if editor == "qwen-edit" else "vae", stage.model_id)
    handle = vae.encoder.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    try:
        result = stage.edit(image=img, plan=plan_for("replace the left cat with a tiger"), segmentation=seg, seed=3)
    finally:
        handle.remove()
    assert result.parameters["pipeline"] in ("QwenImageEditPlusPipeline", "FluxKontextPipeline")
    assert seen, "the VAE never saw the crop"
    for x in seen:  # [-1, 1] pixels: pure green is (-1, 1, -1); the model never sees the other object
        x = x.reshape(x.shape[0], 3, -1)  # (B, 3, H, W) or the Qwen VAE's (B, 3, 1, H, W)
        green = (x[:, 0] < -0.9) & (x[:, 1] > 0.9) & (x[:, 2] < -0.9)
        assert not green.any()
    src, res = np.asarray(img), np.asarray(result.image)
    assert res.shape == src.shape and np.array_equal(src[right], res[right])
    bound = _region_bound(left, 0, result.parameters["paste_dilate"] + result.parameters["feather"] + 1)
    assert np.array_equal(src[~bound], res[~bound])


# --------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("editor,flag,wrong", [("kontext", "--kontext-model", "sd"),
                                               ("qwen-edit", "--qwen-edit-model", "kontext"),
                                               ("kontext", "--editor-model", "sd")])  # (it sent users to --kontext-model)
def test_wrong_family_exits_5_before_parsing(editor, flag, wrong, tiny_models, tiny_editors, editor_env, tmp_path):
    folder = tiny_models.get(wrong) or tiny_editors[wrong]
    img, _, _ = two_objects()
    img.save(tmp_path / "x.png")
    # "hello there" names nothing: parsing it would exit 3, so exit 5 proves the check ran before the parser
    r = CliRunner().invoke(main, ["edit", str(tmp_path / "x.png"), "hello there", "--editor", editor, flag,
                                  str(folder), "-o", str(tmp_path / "o.png")], env=editor_env)  # fmt: skip
    assert r.exit_code == 5, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: error:") and "is not a" in lines[0] and flag in lines[0]
    assert "None" not in lines[0] and (flag != "--editor-model" or "--kontext-model" not in lines[0]), lines[0]
    assert not (tmp_path / "o.png").exists()


def test_bad_mask_mode_exits_2(editor_env, tmp_path):
    img, _, _ = two_objects()
    img.save(tmp_path / "x.png")
    r = CliRunner().invoke(main, ["edit", str(tmp_path / "x.png"), "replace the cat with a dog", "--editor", "kontext",
                                  "--mask-mode", "grow:3"], env=editor_env)  # fmt: skip
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1 and "mask mode" in r.stderr
    for odd in ("expand:\u00b2", "expand:\u0663"):  # digits to str.isdigit(): '²' was exit 1, '٣' taken as 3
        r = CliRunner().invoke(main, ["edit", str(tmp_path / "x.png"), "replace the cat with a dog", "--editor",
                                      "kontext", "--mask-mode", odd], env=editor_env)  # fmt: skip
        assert r.exit_code == 2 and "mask mode must be object, box or expand:N" in r.stderr, r.output
    r = CliRunner().invoke(main, ["edit", str(tmp_path / "x.png"), "replace the cat with a dog", "--editor", "diffedit",
                                  "--mask-mode", "box"], env=editor_env)  # fmt: skip
    assert r.exit_code == 2 and "--mask-mode is not used by the chosen stages" in r.stderr


def test_cuda_out_of_memory_is_one_line_naming_offload(editor_env):
    settings = Settings.resolve(environ=editor_env)
    stage = build_stage("editor", "kontext", settings, steps=2, resolution=64)
    transformer = stage.store.get("kontext", "flux_transformer", stage.model_id)

    def oom(module, args, kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    img, left, _ = two_objects()
    handle = transformer.register_forward_pre_hook(oom, with_kwargs=True)
    try:
        with pytest.raises(ModelUnavailable) as info:
            stage.edit(image=img, plan=plan_for("remove the cat"), segmentation=Segmentation(mask=left), seed=0)
    finally:
        handle.remove()
    message = str(info.value)
    assert info.value.exit_code == 5 and "\n" not in message
    assert "--offload model" in message and "kontext" in message


def test_options_validated_once():
    assert KontextOptions(mask_mode="EXPAND:10").mask_mode == "expand:10"
    with pytest.raises(BadInput):
        QwenEditOptions(mask_mode="expand:x")
    with pytest.raises(BadInput):
        KontextOptions(context=-1)
    with pytest.raises(BadInput, match="strength 0.3 acts on the mask-aware pipeline only"):  # was taken, unused
        QwenEditOptions(strength=0.3, mask_aware=False)
    assert KontextOptions(strength=1.0, mask_aware=False).strength == 1.0


@pytest.mark.parametrize("offload,where", [("model", "pipeline"), ("group", "group"), ("sequential", "sequential")])
def test_offload_modes_place_the_big_components(offload, where, editor_env):
    settings = Settings.resolve(environ={**editor_env, "REFEDIT_OFFLOAD": offload})
    stage = build_stage("editor", "kontext", settings, steps=2, resolution=64)
    img, left, _ = two_objects()
    result = stage.edit(image=img, plan=plan_for("make the cat red"), segmentation=Segmentation(mask=left), seed=0)
    assert result.parameters["offload"] == offload and result.parameters["mask_mode"] == "object"
    moved = {(component, how) for _, component, how in stage.store.moves}
    assert ("flux_transformer", where) in moved and ("t5_encoder", where) in moved
    if offload == "group":  # diffusers' group-offloading hooks on the big modules' leaves, which the pipeline runs
        transformer = stage.store.get("kontext", "flux_transformer", stage.model_id)
        assert any(m._diffusers_hook.get_hook("group_offloading") for m in transformer.modules() if hasattr(m, "_diffusers_hook"))
    src, res = np.asarray(img), np.asarray(result.image)
    bound = _region_bound(left, 0, result.parameters["paste_dilate"] + result.parameters["feather"] + 1)
    assert np.array_equal(src[~bound], res[~bound])


def test_qwen_edit_runs_under_group_offload(editor_env):
    """Qwen-Image-Edit's transformer, VL text encoder and 3-D VAE streamed by diffusers' group offloading: the edit
    runs through the hooks and the background stays the input's."""
    settings = Settings.resolve(environ={**editor_env, "REFEDIT_OFFLOAD": "group"})
    stage = build_stage("editor", "qwen-edit", settings, steps=2, resolution=64)
    img, left, _ = two_objects()
    result = stage.edit(image=img, plan=plan_for("make the cat red"), segmentation=Segmentation(mask=left), seed=0)
    moved = {component for _, component, how in stage.store.moves if how == "group"}
    assert moved == {"qwen_transformer", "qwen_text_encoder", "qwen_vae"}
    src, res = np.asarray(img), np.asarray(result.image)
    bound = _region_bound(left, 0, result.parameters["paste_dilate"] + result.parameters["feather"] + 1)
    assert np.array_equal(src[~bound], res[~bound])


def test_memory_warning_names_what_the_offload_plan_keeps_on_the_gpu():
    from refedit.pipeline.edit.instruction_editors import memory_warning

    sizes = {"transformer": 40_900_000_000, "text_encoder": 16_600_000_000}
    none = memory_warning("qwen-edit", "none", sizes, free=24_000_000_000)
    assert none and "57.5 GB" in none and "24.0 GB free" in none and "--offload model" in none and "\n" not in none
    model = memory_warning("qwen-edit", "model", sizes, free=24_000_000_000)
    assert model and "largest part (transformer) takes 40.9 GB" in model and "group or sequential" in model
    assert memory_warning("qwen-edit", "model", sizes, free=48_000_000_000) is None  # the largest part fits
    assert memory_warning("qwen-edit", "none", sizes, free=30_000_000_000, scale=0.5) is None  # e.g. 8-bit weights
    assert memory_warning("qwen-edit", "group", sizes, free=1) is None and memory_warning("kontext", "sequential", sizes, free=1) is None
    assert memory_warning("kontext", "none", {}, free=1) is None  # nothing known: no guess


def test_an_editor_reads_its_weight_sizes_from_the_checkpoints_indexes(editor_env, tmp_path):
    """The sharded components' safetensors indexes give their sizes before anything loads (the tiny checkpoint's
    weights are single files: no index, no size, no warning); float32 doubles the 16-bit sizes."""
    import shutil

    folder = tmp_path / "kontext"
    shutil.copytree(editor_env["REFEDIT_KONTEXT_MODEL"], folder)
    assert build_stage("editor", "kontext", Settings.resolve(environ=editor_env)).weight_sizes() == {}
    for part, name, size in (("transformer", "diffusion_pytorch_model", 23_800_000_000), ("text_encoder_2", "model", 9_500_000_000)):
        (folder / part / f"{name}.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": size}, "weight_map": {}}))
    env = {**editor_env, "REFEDIT_KONTEXT_MODEL": str(folder)}
    stage = build_stage("editor", "kontext", Settings.resolve(environ=env, dtype="bfloat16"))
    assert stage.weight_sizes() == {"transformer": 23_800_000_000, "text_encoder_2": 9_500_000_000}
    assert "33.3 GB" in stage.check_memory(free=24_000_000_000)
    assert stage.check_memory(free=40_000_000_000) is None
    wide = build_stage("editor", "kontext", Settings.resolve(environ=env, dtype="float32"))
    assert "66.6 GB" in wide.check_memory(free=40_000_000_000)


def test_qwen_inpainting_works_at_the_asked_resolution(editor_env):
    """QwenImageEditInpaintPipeline sizes its latents for ~1 MP whatever height/width say: --resolution was ignored
    (1024 x 1024 latents for --resolution 64) and the record named a working size never used."""
    settings = Settings.resolve(environ=editor_env)
    stage = build_stage("editor", "qwen-edit", settings, steps=1, resolution=64, mask_mode="box")
    img, left, right = two_objects()
    seg = Segmentation(mask=left, candidates=(Candidate((15, 30, 56, 71), 0.9, "cat", left),), chosen=(0,))
    pipe = stage.pipeline()
    assert type(pipe).__name__ == "QwenImageEditInpaintPipeline"
    seen: list[tuple[int, int]] = []
    real = pipe.prepare_latents

    def spy(*args, **kwargs):
        seen.append((args[4], args[5]) if len(args) > 5 else (kwargs["height"], kwargs["width"]))
        return real(*args, **kwargs)

    pipe.prepare_latents = spy
    try:
        result = stage.edit(image=img, plan=plan_for("replace the left cat with a tiger"), segmentation=seg, seed=3)
    finally:
        del pipe.prepare_latents
    w, h = result.parameters["working_size"]
    assert seen == [(h, w)] and w * h <= 2 * 64 * 64, (seen, result.parameters["working_size"])
    import diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_inpaint as module

    assert module.calculate_dimensions(1024 * 1024, 1.0)[0] == 1024  # the library's own function back after the call


def test_kontext_refuses_a_text_length_its_t5_does_not_read():
    """FLUX's T5 reads 512 tokens: 1024 was accepted, recorded, and 512 used."""
    assert KontextOptions.from_mapping({"max_sequence_length": 512}).max_sequence_length == 512
    with pytest.raises(BadInput, match=r"max_sequence_length must be .*\[16, 512\]"):
        KontextOptions.from_mapping({"max_sequence_length": 1024})
    assert QwenEditOptions.from_mapping({"max_sequence_length": 1024}).max_sequence_length == 1024
