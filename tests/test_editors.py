"""Every editor end to end through `refedit edit --editor NAME` on a tiny checkpoint of its kind."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.errors import ModelUnavailable
from refedit.pipeline.artifacts import Segmentation
from refedit.pipeline.chain import build_stage
from refedit.pipeline.parse.rules import RulesParser
from refedit.pipeline.segment.masks import dilate

from .conftest import EXAMPLES

COFFEE = EXAMPLES / "coffee.jpg"
FAST = ["--steps", "6", "--resolution", "64"]
EDITORS = {"diffedit": "sd", "inpaint": "sd-inpaint", "instruct": "sd-instruct", "sdedit": "sd"}


def mask_file(tmp_path, size):
    m = np.zeros((size[1], size[0]), np.uint8)
    m[size[1] // 4 : size[1] // 2, size[0] // 3 : size[0] // 2] = 255
    path = tmp_path / "mask.png"
    Image.fromarray(m).save(path)
    return path, m > 0


@pytest.mark.parametrize("editor", sorted(EDITORS))
def test_editor_end_to_end_cli(editor, tmp_path, tiny_env):
    size = Image.open(COFFEE).size
    mpath, mask = mask_file(tmp_path, size)
    out = tmp_path / "out.png"
    r = CliRunner().invoke(main, ["edit", str(COFFEE), "remove the cup", "--editor", editor, "--mask", str(mpath),
                                  "-o", str(out), "--json", "--seed", "4", *FAST], env=tiny_env)  # fmt: skip
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["parameters"]["editor"] == editor and record["parameters"]["seed"] == 4
    src, res = np.asarray(Image.open(COFFEE).convert("RGB")), np.asarray(Image.open(out))
    assert res.shape == src.shape
    outside = ~dilate(mask, record["parameters"]["paste_dilate"] + record["parameters"]["feather"] + 1)
    assert np.array_equal(src[outside], res[outside]) and not np.array_equal(src[mask], res[mask])
    assert record["metrics"]["outside_psnr"] == "inf"


@pytest.mark.parametrize(
    "editor,options,calls",
    [("sdedit", {"steps": 10, "strength": 0.7}, 7), ("inpaint", {"steps": 10}, 10),
     ("inpaint", {"steps": 10, "strength": 0.45}, 5), ("instruct", {"steps": 8}, 8)],
)  # fmt: skip
def test_unet_calls_and_determinism(editor, options, calls, tiny_settings):
    img = Image.open(COFFEE).convert("RGB").resize((96, 64))
    mask = np.zeros((64, 96), bool)
    mask[10:40, 20:60] = True
    plan = RulesParser().parse(instruction="replace the cup with a bowl")
    results = []
    for _ in range(2):
        stage = build_stage("editor", editor, tiny_settings, resolution=64, **options)
        results.append(stage.edit(image=img, plan=plan, segmentation=Segmentation(mask), seed=9))
        assert stage.unet_calls == calls == math.ceil(options.get("strength", 1.0) * options["steps"] - 1e-9)
    assert np.array_equal(np.asarray(results[0].image), np.asarray(results[1].image))


@pytest.mark.parametrize("editor,wrong", [("inpaint", "sd"), ("instruct", "sd"), ("diffedit", "sd-inpaint"),
                                          ("sdedit", "sd-instruct")])  # fmt: skip
def test_checkpoint_kind_mismatch_is_a_clear_error(editor, wrong, tiny_models, tiny_settings, tmp_path):
    stage = build_stage("editor", editor, tiny_settings, editor_model=str(tiny_models[wrong]), resolution=64, steps=2)
    img = Image.new("RGB", (64, 64))
    with pytest.raises(ModelUnavailable, match=r"checkpoint \(\d-channel UNet\) but the .* editor needs"):
        stage.edit(image=img, plan=RulesParser().parse(instruction="remove the cup"),
                   segmentation=Segmentation(np.ones((64, 64), bool)), seed=0)  # fmt: skip


def test_kind_mismatch_through_cli(tiny_models, tiny_env, tmp_path):
    size = Image.open(COFFEE).size
    mpath, _ = mask_file(tmp_path, size)
    r = CliRunner().invoke(main, ["edit", str(COFFEE), "remove the cup", "--editor", "inpaint", "--editor-model",
                                  str(tiny_models["sd"]), "--mask", str(mpath), "-o", str(tmp_path / "o.png"), *FAST],
                           env=tiny_env)  # fmt: skip
    assert r.exit_code == ModelUnavailable.exit_code and "inpaint editor needs" in r.stderr
    assert not (tmp_path / "o.png").exists()
