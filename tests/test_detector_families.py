"""Issue 13: Grounded-SAM with the newer parts. ``--sam-model`` takes SAM 2 / 2.1 (``Sam2Model``) as well as SAM;
``--grounding-model`` takes MM-Grounding-DINO, OWLv2 and Florence-2 phrase grounding as well as GroundingDINO; the
family comes from the checkpoint's config.json and a wrong one is exit 5 before any work. Tiny random-weight models
of each architecture load through ``from_pretrained``; where a result depends on the model's outputs, they are set
at the model-output boundary (a forward hook on the real model) and refedit's post-processing runs for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.config import Settings
from refedit.pipeline.artifacts import EditRequest
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.stages import StageSpec, registry

from .conftest import EXAMPLES

CAT = EXAMPLES / "cat.jpg"
LOOSE = ["--box-threshold", "0", "--on-ambiguous", "best"]


@pytest.fixture(scope="session")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from refedit.testing.tiny_segmenters import build_all

    return build_all(tmp_path_factory.mktemp("tiny-segmenters"))


def settings_with(tiny_env: dict[str, str], **models: Path) -> Settings:
    env = {**tiny_env, **{f"REFEDIT_{role.upper()}_MODEL": str(path) for role, path in models.items()}}
    return Settings.resolve(environ=env, config_file=Path("/dev/null"))


# --------------------------------------------------------------------------- end to end on the command line
@pytest.mark.parametrize("sam", ["sam", "sam2"])
@pytest.mark.parametrize("grounding", ["grounding-dino", "mm-grounding-dino", "owlv2"])
def test_segment_with_each_sam_and_detector_family(sam, grounding, parts, tiny_models, tiny_env, tmp_path):
    folders = {**tiny_models, **parts}
    out = tmp_path / "mask.png"
    r = CliRunner().invoke(main, ["segment", str(CAT), "the cat", "--sam-model", str(folders[sam]), "--grounding-model",
                                  str(folders[grounding]), *LOOSE, "-o", str(out), "--json"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    seg = json.loads(r.stdout)["segmentation"]
    assert seg["segmenter"] == "grounded-sam" and seg["candidates"]
    assert Image.open(out).size == Image.open(CAT).size


def test_edit_with_sam2_and_owlv2(parts, tiny_env, tmp_path):
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat with a tiger", "--sam-model", str(parts["sam2"]),
                                  "--grounding-model", str(parts["owlv2"]), "--editor", "inpaint", "--steps", "2", *LOOSE,
                                  "-o", str(out)], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == Image.open(CAT).size


@pytest.mark.parametrize("sam,grounding,sam_class,detector_class", [
    ("sam2", "mm-grounding-dino", "Sam2Model", "MMGroundingDinoForObjectDetection"),
    ("sam2", "owlv2", "Sam2Model", "Owlv2ForObjectDetection"),
    ("sam", "florence2", "SamModel", "Florence2ForConditionalGeneration"),
])  # fmt: skip
def test_the_family_picks_the_class(sam, grounding, sam_class, detector_class, parts, tiny_models, tiny_env):
    folders = {**tiny_models, **parts}
    pipe = Pipeline.build(settings_with(tiny_env, sam=folders[sam], grounding=folders[grounding]))
    store = pipe.segmenter.store
    assert type(store.get("sam", "sam")).__name__ == sam_class
    assert type(store.get("grounding", "detector")).__name__ == detector_class


# --------------------------------------------------------------------------- the adapters' post-processing
def test_owlv2_boxes_scale_by_the_padded_square_and_the_resolver_picks(parts, tiny_models, tiny_env):
    """OWLv2 pads the image to a square at the bottom and right: normalized boxes scale by the longer side.
    Two injected boxes on a 200 x 100 image; "the right cat" is the one whose centre lies further right."""
    pipe = Pipeline.build(settings_with(tiny_env, grounding=parts["owlv2"], sam=tiny_models["sam"]),
                          options={"box_mask": True, "box_expand": 0.0, "box_threshold": 0.3})  # fmt: skip
    model = pipe.segmenter.store.get("grounding", "detector")

    def inject(module, args, kwargs, out):  # type: ignore[no-untyped-def]
        logits = torch.full_like(out.logits, -9.0)
        boxes = torch.full_like(out.pred_boxes, 0.5)
        logits[0, 0, 0], boxes[0, 0] = 3.0, torch.tensor([0.25, 0.25, 0.2, 0.2])  # x 30..70, y 30..70 in pixels
        logits[0, 1, 0], boxes[0, 1] = 2.0, torch.tensor([0.75, 0.20, 0.3, 0.2])  # x 120..180, y 20..60
        out.logits, out.pred_boxes = logits, boxes
        return out

    model.register_forward_hook(inject, with_kwargs=True)
    image = Image.open(CAT).convert("RGB").resize((200, 100))
    _, seg = pipe.segment_only(EditRequest(image, "the right cat"))
    boxes = sorted(tuple(round(v) for v in c.box) for c in seg.candidates)
    assert boxes == [(30, 30, 70, 70), (120, 20, 180, 60)]
    assert tuple(round(v) for v in seg.candidates[seg.chosen[0]].box) == (120, 20, 180, 60)
    from refedit.core.masks import box_mask

    assert (seg.mask == box_mask(seg.candidates[seg.chosen[0]].box, (100, 200))).all()  # --box-mask: the chosen box


def test_florence2_inputs_are_its_processors(parts, tiny_env):
    """The adapter's generate() inputs (pixels resized on the device, the task's text laid out as the processor
    lays it out) equal Florence2Processor's own: the same token ids, pixels within one uint8 level."""
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.detectors import GROUNDING_TASK, Florence2

    store = ModelStore(settings_with(tiny_env, grounding=parts["florence2"]))
    processor = store.get("grounding", "processor")
    image = Image.open(CAT).convert("RGB").resize((301, 203))
    for caption in ("cat", "the white cup on the right"):
        ref = processor(text=GROUNDING_TASK + caption, images=image, return_tensors="pt")
        mine = Florence2(store).inputs(image, caption)
        assert torch.equal(mine["input_ids"], ref["input_ids"]) and torch.equal(mine["attention_mask"], ref["attention_mask"])
        std = torch.tensor(processor.image_processor.image_std).view(1, 3, 1, 1)
        assert ((mine["pixel_values"] - ref["pixel_values"]).abs() * std * 255).max() <= 1.01


def test_florence2_phrase_grounding_boxes_are_its_dequantized_locations(parts, tiny_models, tiny_env):
    """Florence-2 writes "cat<loc_x0><loc_y0><loc_x1><loc_y1>..."; its decoding is scripted at the logits (each step
    allows one token) and refedit's adapter turns the answer into boxes with the processor's parser: bin k of 1000
    is pixel (k + 0.5) * side / 1000."""
    pipe = Pipeline.build(settings_with(tiny_env, grounding=parts["florence2"], sam=tiny_models["sam"]),
                          options={"box_mask": True})  # fmt: skip
    store = pipe.segmenter.store
    model, processor = store.get("grounding", "detector"), store.get("grounding", "processor")
    tok = processor.tokenizer
    locs = [[100, 200, 300, 600], [600, 250, 900, 700]]
    script = [tok.bos_token_id, *tok("cat", add_special_tokens=False)["input_ids"]]
    for box in locs:
        script += tok.convert_tokens_to_ids([f"<loc_{k}>" for k in box])
    script.append(tok.eos_token_id)
    step = {"n": 0}

    def scripted(module, args, kwargs, out):  # type: ignore[no-untyped-def]
        logits = torch.full_like(out.logits, -1e4)
        logits[..., -1, script[min(step["n"], len(script) - 1)]] = 0.0
        step["n"] = 0 if step["n"] >= len(script) - 1 else step["n"] + 1
        out.logits = logits
        return out

    model.register_forward_hook(scripted, with_kwargs=True)
    w, h = 300, 200
    image = Image.open(CAT).convert("RGB").resize((w, h))
    _, seg = pipe.segment_only(EditRequest(image, "the left cat"))
    expected = [tuple((k + 0.5) * side / 1000 for k, side in zip(box, (w, h, w, h), strict=True)) for box in locs]
    found = sorted(c.box for c in seg.candidates)
    assert len(found) == 2 and all(f == pytest.approx(e, abs=0.51) for f, e in zip(found, sorted(expected), strict=True))
    assert seg.candidates[seg.chosen[0]].box == pytest.approx(expected[0], abs=0.51)


def test_sam2_scales_prompts_to_its_square_input_and_embeds_once(parts, tiny_env):
    """SAM 2 resizes the image to a square (aspect not kept): a pixel box scales by side_in / side per axis
    (Sam2Processor's coordinate normalisation); several prompts on one image reuse one embedding."""
    from refedit.pipeline.models import ModelStore
    from refedit.pipeline.segment.sam2 import Sam2
    from refedit.testing.tiny_segmenters import SAM2_SIZE

    store = ModelStore(settings_with(tiny_env, sam=parts["sam2"]))
    seen: list[torch.Tensor] = []
    store.get("sam", "sam").register_forward_hook(
        lambda m, a, kw, out: seen.append(kw["input_boxes"].float().cpu()) if "input_boxes" in kw else None,
        with_kwargs=True)  # fmt: skip
    sam = Sam2(store)
    image = Image.open(CAT).convert("RGB").resize((256, 64))
    masks = sam.masks(image, [(32.0, 8.0, 96.0, 40.0), (128.0, 16.0, 224.0, 60.0)])
    masks += [sam.mask_from_points(image, [(100.0, 30.0)])]
    assert sam.embed_calls == 1 and all(m.shape == (64, 256) and m.dtype == bool for m in masks)
    sx, sy = SAM2_SIZE / 256, SAM2_SIZE / 64
    assert torch.allclose(seen[0][0], torch.tensor([[32 * sx, 8 * sy, 96 * sx, 40 * sy], [128 * sx, 16 * sy, 224 * sx, 60 * sy]]))


# --------------------------------------------------------------------------- a wrong family: exit 5 before any work
@pytest.fixture
def spy_parser():
    calls: list[str] = []

    class Spy:
        def parse(self, *, instruction: str, image: object = None) -> object:
            calls.append(instruction)
            raise AssertionError("the parser must not run")

    def factory(context: object) -> Spy:
        return Spy()

    factory.spec = StageSpec(types=dict)  # type: ignore[attr-defined] - declares it loads no model, as rules does
    registry.register("parser", "spy", factory)
    yield calls
    registry.unregister("parser", "spy")


@pytest.mark.parametrize("flag,part,kind", [
    ("--sam-model", "sam3", "SAM"), ("--sam-model", "owlv2", "SAM"), ("--grounding-model", "sam2", "zero-shot object detection"),
    ("--grounding-model", "sam3", "zero-shot object detection"), ("--sam3-model", "sam2", "SAM 3"),
])  # fmt: skip
@pytest.mark.parametrize("command", ["edit", "segment"])
def test_wrong_family_is_one_line_exit_5_before_parse(flag, part, kind, command, parts, tiny_env, spy_parser, tmp_path):
    out = tmp_path / "out.png"
    segmenter = "sam3" if flag == "--sam3-model" else "grounded-sam"
    instruction = "replace the cat with a tiger" if command == "edit" else "the cat"
    r = CliRunner().invoke(main, [command, str(CAT), instruction, "--parser", "spy", "--segmenter", segmenter, flag,
                                  str(parts[part]), "-o", str(out)], env=tiny_env)  # fmt: skip
    assert r.exit_code == 5, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and f"is not a {kind} checkpoint" in lines[0]
    assert "Traceback" not in r.output and spy_parser == [] and not out.exists()


def test_every_detector_family_is_accepted_by_the_preflight(parts, tiny_models, tiny_env):
    """The preflight reads config.json only: no weight loads for any accepted family."""
    from refedit.pipeline.models import ModelStore

    for name in ("grounding-dino", "mm-grounding-dino", "owlv2", "florence2"):
        folder = {**tiny_models, **parts}[name]
        store = ModelStore(settings_with(tiny_env, grounding=folder, sam=parts["sam2"]))
        Pipeline.build(store.settings, store=store)
        assert store.loads == [], name


def test_refdiff_sam_proposals_refuse_a_sam2_checkpoint_before_parse(parts, tiny_env, spy_parser, tmp_path):
    """Ref-Diff's SAM point-grid proposals are SAM's (multimask decoder over its padded input): a SAM 2 checkpoint
    is one line, exit 5, before parsing; without SAM proposals the same checkpoint is no obstacle."""
    out = tmp_path / "out.png"
    args = ["segment", str(CAT), "the cat", "--parser", "spy", "--segmenter", "refdiff", "--sam-model",
            str(parts["sam2"]), "-o", str(out)]  # fmt: skip
    r = CliRunner().invoke(main, args, env=tiny_env)
    assert r.exit_code == 5 and "need a SAM checkpoint" in r.stderr and "is SAM 2" in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and spy_parser == [] and not out.exists()
    no_flag = [a for a in args[:-2] if a not in ("--sam-model", str(parts["sam2"]))]  # (a flag SAM does not use
    env = {**tiny_env, "REFEDIT_SAM_MODEL": str(parts["sam2"])}  # is refused as unused: the setting stands instead)
    r = CliRunner().invoke(main, [*no_flag, "-O", "proposals=attention", "--json"], env=env)
    assert "need a SAM checkpoint" not in r.output and spy_parser == ["the cat"]  # it got as far as the parser


# --------------------------------------------------------------------------- a model flag no chosen stage loads
@pytest.mark.parametrize("args,flag,users", [
    (["--segmenter", "sam3", "--sam-model", "PART:sam2"], "--sam-model", "it is a model of segmenter grounded-sam"),
    (["--segmenter", "grounded-sam", "--sam3-model", "PART:sam3"], "--sam3-model", "it is a model of segmenter sam3"),
    (["--editor", "inpaint", "--sd-model", "PART:sam2"], "--sd-model", "editor diffedit"),
    (["--detections", "DETS", "--grounding-model", "PART:owlv2"], "--grounding-model",
     "with these options segmenter grounded-sam does not load it"),
])  # fmt: skip
@pytest.mark.parametrize("command", ["edit", "segment"])
def test_a_model_flag_no_chosen_stage_loads_is_refused_before_parse(args, flag, users, command, parts, tiny_env,
                                                                      spy_parser, tmp_path):  # fmt: skip
    """``--segmenter sam3 --sam-model facebook/sam2.1-hiera-large`` ran SAM 3 and dropped the SAM 2 the user
    asked for, silently: a flag whose role no chosen stage loads is one line, exit 2, naming the stages it is for."""
    if command == "segment" and "--editor" in args:
        pytest.skip("segment has no editor")
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"box": [0, 0, 10, 10], "score": 1.0, "label": "cat"}]))
    args = [str(parts[a[5:]]) if a.startswith("PART:") else str(dets) if a == "DETS" else a for a in args]
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, [command, str(CAT), "replace the cat with a tiger", "--parser", "spy", *args, "-o",
                                  str(out)], env=tiny_env)  # fmt: skip
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"refedit: error: {flag} is not used by the chosen stages"), lines
    assert users in lines[0] and spy_parser == [] and not out.exists()


@pytest.mark.parametrize("args", [
    ["--segmenter", "grounded-sam", "--clip-model", "PART:clip"],  # the attribute filter's, for "the green bus"
    ["--segmenter", "sam3", "--clip-model", "PART:clip"],
    ["--inpaint-model", "PART:sd-inpaint"],  # no --editor: an addition goes to the inpainting editor
    ["--segmenter", "refdiff", "--sam-model", "PART:sam"],
])  # fmt: skip
def test_a_model_flag_a_stage_may_load_is_accepted(args, tiny_models, tiny_env, spy_parser, tmp_path):
    args = [str(tiny_models[a[5:]]) if a.startswith("PART:") else a for a in args]
    r = CliRunner().invoke(main, ["edit", str(CAT), "replace the cat with a tiger", "--parser", "spy", *args, "-o",
                                  str(tmp_path / "out.png")], env=tiny_env)  # fmt: skip
    assert "is not used by" not in r.output and spy_parser == ["replace the cat with a tiger"], r.output


def test_a_model_flag_is_not_refused_beside_a_stage_that_declares_nothing(tiny_models, tiny_env, spy_parser, tmp_path):
    """A plugin without a spec may load any role: its run cannot say a flag is unused."""
    registry.register("segmenter", "opaque", lambda context: None)
    try:
        r = CliRunner().invoke(main, ["segment", str(CAT), "the cat", "--parser", "spy", "--segmenter", "opaque",
                                      "--sam3-model", str(tiny_models["sam3"])], env=tiny_env)  # fmt: skip
    finally:
        registry.unregister("segmenter", "opaque")
    assert "is not used by" not in r.output and spy_parser == ["the cat"], r.output
