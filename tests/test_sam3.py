"""Issue 13: the ``sam3`` segmenter. SAM 3 (a tiny random-weight Sam3Model, loaded through ``from_pretrained``) is
prompted with the plan's segmentation prompt and returns every instance; Grounded-SAM's referring resolver then
picks. Where a pick depends on SAM 3's outputs, the instances are set at the model-output boundary (a forward hook
on the real model returns hand-made logits, boxes and mask logits) and everything after it runs for real:
refedit's post-processing, the resolver, the hints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.config import Settings
from refedit.errors import ModelUnavailable
from refedit.pipeline.artifacts import EditRequest, Hints
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.stages import registry

from .conftest import EXAMPLES

W, H = 240, 120
#: four cats, left to right: A (small), B (the biggest), C, D; J is a query SAM 3 scores below its threshold
A, B, C, D = (10.0, 40.0, 50.0, 80.0), (60.0, 20.0, 130.0, 100.0), (140.0, 40.0, 180.0, 80.0), (190.0, 30.0, 230.0, 90.0)
J = (185.0, 95.0, 235.0, 118.0)
#: query slot -> (box, logit): the instances in no particular order among the queries, J at logit -1
SLOTS = {0: (C, 4.0), 2: (A, 3.0), 3: (D, 3.5), 5: (B, 2.5), 6: (J, -1.0)}


@pytest.fixture
def env(tiny_env: dict[str, str]) -> dict[str, str]:
    """The tiny models, SAM 3's included (REFEDIT_SAM3_MODEL)."""
    assert "REFEDIT_SAM3_MODEL" in tiny_env
    return tiny_env


@pytest.fixture
def scene_image() -> Image.Image:
    return Image.open(EXAMPLES / "cat.jpg").convert("RGB").resize((W, H))


def fabricated(real: object) -> object:
    """SAM 3's output with the :data:`SLOTS` instances: query logits, normalized xyxy boxes and mask logits (+8 on
    the low-res cells whose centres lie in the box, -8 elsewhere; SAM 3's masks span the whole image), presence 6."""
    out = real
    n, (h, w) = out.pred_logits.shape[1], out.pred_masks.shape[-2:]
    logits = torch.full((1, n), -8.0)
    boxes = torch.zeros(1, n, 4)
    mask = torch.full((1, n, h, w), -8.0)
    ys, xs = (torch.arange(h) + 0.5) * H / h, (torch.arange(w) + 0.5) * W / w
    for q, (box, logit) in SLOTS.items():
        logits[0, q] = logit
        boxes[0, q] = torch.tensor([box[0] / W, box[1] / H, box[2] / W, box[3] / H])
        inside = ((ys >= box[1]) & (ys <= box[3]))[:, None] & ((xs >= box[0]) & (xs <= box[2]))[None, :]
        mask[0, q][inside] = 8.0
    dev, dt = out.pred_logits.device, out.pred_logits.dtype
    return type(out)(pred_masks=mask.to(dev, dt), pred_boxes=boxes.to(dev, dt), pred_logits=logits.to(dev, dt),
                     presence_logits=torch.full((1, 1), 6.0, device=dev, dtype=dt))  # fmt: skip


def pipeline(settings: Settings, **options: object) -> Pipeline:
    """The sam3 pipeline with :func:`fabricated` instances hooked onto the real tiny model."""
    pipe = Pipeline.build(settings, segmenter="sam3", options={"on_ambiguous": "fail", **options})
    model = pipe.segmenter.store.get("sam3", "sam3")
    model.register_forward_hook(lambda module, args, kwargs, out: fabricated(out), with_kwargs=True)
    return pipe


def rounded(box: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(v) for v in box)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def near(found: tuple[float, ...], box: tuple[float, ...], tol: float = 16.0) -> bool:
    """Within ``tol`` pixels on every side (the masks come from a 16 x 16 grid over a 240 x 120 image)."""
    return all(abs(a - b) <= tol for a, b in zip(found, box, strict=True))


# --------------------------------------------------------------------------- the resolver among SAM 3's instances
@pytest.mark.parametrize(
    "instruction,expected",
    [("the left cat", [A]), ("the second cat from the right", [C]), ("the biggest cat", [B]),
     ("all the cats", [A, B, C, D]), ("the right cat", [D])],
)  # fmt: skip
def test_resolver_picks_among_sam3_instances(instruction, expected, tiny_settings, env, scene_image):
    settings = Settings.resolve(environ=env, config_file=Path("/dev/null"))
    pipe = pipeline(settings)
    plan, seg = pipe.segment_only(EditRequest(scene_image, instruction))
    assert seg.segmenter == "sam3" and plan.segmentation_prompt == "cat"
    # every instance above SAM 3's threshold is a candidate, J (score sigmoid(-1) x sigmoid(6) < 0.5) is not
    assert sorted(rounded(c.box) for c in seg.candidates) == sorted(rounded(b) for b in (A, B, C, D))
    assert sorted(rounded(seg.candidates[i].box) for i in seg.chosen) == sorted(rounded(b) for b in expected)
    # the mask is the union of the chosen instances' own masks: inside their boxes, nowhere else (up to a cell of
    # SAM 3's 16 x 16 low-res mask grid: 15 x 7.5 px here)
    mx, my = 16, 8
    union = np.zeros((H, W), dtype=bool)
    for box in expected:
        union[int(box[1]) + my : int(box[3]) - my, int(box[0]) + mx : int(box[2]) - mx] = True
    assert seg.mask[union].all()
    outside = np.ones((H, W), dtype=bool)
    for box in expected:
        outside[max(0, int(box[1]) - my) : int(box[3]) + my, max(0, int(box[0]) - mx) : int(box[2]) + mx] = False
    assert not seg.mask[outside].any()


def test_vision_features_are_computed_once_for_several_phrases(env, scene_image):
    """A relation ("the cat left of the dog") needs two phrases: one vision pass, one decoder call per phrase."""
    settings = Settings.resolve(environ=env, config_file=Path("/dev/null"))
    pipe = pipeline(settings)
    detector = pipe.segmenter.detector
    found = detector.detect_phrases(scene_image, ["cat", "dog"])
    assert len(found) == 2 and detector.backend.vision_calls == 1


def test_a_point_hint_picks_the_instance_it_lies_in(env, scene_image):
    settings = Settings.resolve(environ=env, config_file=Path("/dev/null"))
    pipe = pipeline(settings)
    hints = Hints(points=((160.0, 60.0),))  # inside C only
    _, seg = pipe.segment_only(EditRequest(scene_image, "the cat", hints=hints))
    assert [rounded(seg.candidates[i].box) for i in seg.chosen] == [rounded(C)]
    assert "hint point" in seg.reason


def test_a_point_outside_every_instance_takes_the_sam3_query_whose_mask_holds_it(env, scene_image):
    """J scores below the threshold, so it is no candidate; a point on it is SAM 3's geometric prompt: the query
    whose mask holds the point gives the mask."""
    settings = Settings.resolve(environ=env, config_file=Path("/dev/null"))
    pipe = pipeline(settings)
    hints = Hints(points=((210.0, 108.0),))
    _, seg = pipe.segment_only(EditRequest(scene_image, "the cat", hints=hints))
    assert near(box_of(seg.mask), J)
    assert "matches none of the 4 'cat' detections" in seg.reason


def test_two_equal_instances_are_ambiguous_and_pick_settles_them(env, scene_image, monkeypatch):
    """The same ambiguity policy as Grounded-SAM: two cats with equal scores and no qualifier -> exit 7 ... --pick 2."""
    monkeypatch.setattr(sys.modules[__name__], "SLOTS", {0: (A, 3.0), 2: (D, 3.0)})
    settings = Settings.resolve(environ=env, config_file=Path("/dev/null"))
    from refedit.pipeline.artifacts import AmbiguousTarget

    with pytest.raises(AmbiguousTarget):
        pipeline(settings).segment_only(EditRequest(scene_image, "the cat"))
    _, seg = pipeline(settings, pick=2).segment_only(EditRequest(scene_image, "the cat"))
    assert [rounded(seg.candidates[i].box) for i in seg.chosen] == [rounded(D)]


# --------------------------------------------------------------------------- end to end on the command line
def test_segment_command_with_sam3_end_to_end(env, tmp_path):
    out = tmp_path / "mask.png"
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the cat", "--segmenter", "sam3", "--box-threshold",
                                  "0", "--on-ambiguous", "best", "-o", str(out), "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    seg = data["segmentation"]
    assert seg["segmenter"] == "sam3" and data["plan"]["segmentation_prompt"] == "cat"
    size = Image.open(EXAMPLES / "cat.jpg").size
    assert Image.open(out).size == size
    # SAM 3 returns at most its number of queries, each labelled with the prompt it answered
    from refedit.testing.tiny_segmenters import SAM3_QUERIES

    assert 1 <= len(seg["candidates"]) <= SAM3_QUERIES and {c["label"] for c in seg["candidates"]} == {"cat"}


def test_edit_command_with_sam3_end_to_end(env, tmp_path):
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "replace the cat with a tiger", "--segmenter", "sam3",
                                  "--editor", "inpaint", "--box-threshold", "0", "--on-ambiguous", "best", "--steps", "2",
                                  "-o", str(out), "--json"], env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == Image.open(EXAMPLES / "cat.jpg").size
    assert json.loads(r.stdout)["segmentation"]["segmenter"] == "sam3"


def test_sam3_flag_takes_precedence_over_the_env(env, tiny_models, tmp_path):
    """--sam3-model is a model flag like every role's: a CLIP folder there is refused even with a good env var."""
    r = CliRunner().invoke(main, ["segment", str(EXAMPLES / "cat.jpg"), "the cat", "--segmenter", "sam3",
                                  "--sam3-model", str(tiny_models["clip"]), "-o", str(tmp_path / "m.png")], env=env)  # fmt: skip
    assert r.exit_code == ModelUnavailable.exit_code == 5
    assert "is not a SAM 3 checkpoint" in r.stderr and "--sam3-model" in r.stderr


# --------------------------------------------------------------------------- wrong family: exit 5 before any work
class SpyParser:
    calls: list[str] = []

    def parse(self, *, instruction: str, image: object = None) -> object:
        SpyParser.calls.append(instruction)
        raise AssertionError("the parser must not run")


@pytest.fixture
def spy_parser():
    SpyParser.calls = []
    registry.register("parser", "spy", lambda context: SpyParser())
    yield SpyParser
    registry.unregister("parser", "spy")


@pytest.mark.parametrize("flag,folder,segmenter,kind", [
    ("--sam3-model", "sam", "sam3", "SAM 3"), ("--sam3-model", "grounding-dino", "sam3", "SAM 3"),
    ("--sam-model", "clip", "grounded-sam", "SAM"), ("--grounding-model", "sam", "grounded-sam", "zero-shot object detection"),
])  # fmt: skip
@pytest.mark.parametrize("command", ["edit", "segment"])
def test_wrong_family_is_exit_5_before_parse_or_segment(flag, folder, segmenter, kind, command, env, tiny_models,
                                                         spy_parser, tmp_path):  # fmt: skip
    out = tmp_path / "out.png"
    instruction = "replace the cat with a tiger" if command == "edit" else "the cat"
    r = CliRunner().invoke(main, [command, str(EXAMPLES / "cat.jpg"), instruction, "--parser", "spy", "--segmenter",
                                  segmenter, flag, str(tiny_models[folder]), "-o", str(out)], env=env)  # fmt: skip
    assert r.exit_code == 5, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refedit: error: ") and f"is not a {kind} checkpoint" in lines[0]
    assert spy_parser.calls == [] and not out.exists()


def test_wrong_family_loads_no_weight(env, tiny_models):
    settings = Settings.resolve(environ={**env, "REFEDIT_SAM3_MODEL": str(tiny_models["clip"])}, config_file=Path("/dev/null"))
    from refedit.pipeline.models import ModelStore

    store = ModelStore(settings)
    with pytest.raises(ModelUnavailable, match="is not a SAM 3 checkpoint"):
        Pipeline.build(settings, segmenter="sam3", store=store)
    assert store.loads == []


def test_a_sam3_miss_names_its_own_threshold_only(tiny_env):
    """sam3 has no text threshold (--text-threshold is refused for it), yet its miss cited 'text threshold 0.00'."""
    from click.testing import CliRunner

    from refedit.cli import main

    r = CliRunner().invoke(main, ["segment", "examples/cat.jpg", "the cat", "--segmenter", "sam3", "--box-threshold",
                                  "1"], env=tiny_env)  # fmt: skip
    assert r.exit_code == 4 and "< box threshold 1.00); try a lower --box-threshold" in r.stderr, r.output
