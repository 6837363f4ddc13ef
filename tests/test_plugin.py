"""The example third-party editor (examples/plugin-blur), installed like any plugin, works like a built-in."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from refedit.cli import main
from refedit.pipeline.stages import registry

from .conftest import EXAMPLES


def test_plugin_is_installed():
    """``make test`` installs the plugin; without it the tests below must fail, not skip."""
    assert "blur" in registry.entries("editor"), (
        "examples/plugin-blur is not installed: run `make test`, or `pip install --no-deps -e examples/plugin-blur`"
    )


def test_plugin_is_listed_with_its_distribution():
    rows = json.loads(CliRunner().invoke(main, ["stages", "--json"]).stdout)
    blur = next(r for r in rows if r["kind"] == "editor" and r["name"] == "blur")
    assert blur["source"] == "refedit-blur" and "blur" in blur["description"].lower()


def test_plugin_edits_through_the_cli(tmp_path):
    cat = EXAMPLES / "cat.jpg"
    out = tmp_path / "blurred.png"
    r = CliRunner().invoke(main, ["edit", str(cat), "remove the cat", "--editor", "blur", "--detections",
                                  str(EXAMPLES / "dets_cat.json"), "--box-mask", "-O", "blur_radius=6", "-o", str(out),
                                  "--save-mask", str(tmp_path / "m.png"), "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["parameters"] == {"editor": "blur", "blur_radius": 6.0, "seed": 0}
    src, res = np.asarray(Image.open(cat).convert("RGB")), np.asarray(Image.open(out))
    mask = np.asarray(Image.open(tmp_path / "m.png")) > 127
    assert np.array_equal(src[~mask], res[~mask]) and not np.array_equal(src[mask], res[mask])


@pytest.mark.parametrize("radius,says", [("0", "in (0, 1000]"), ("nan", "in (0, 1000]"), ("inf", "in (0, 1000]"),
                                          ("abc", "blur_radius must be a number in (0, 1000], got 'abc'"),
                                          ("", "blur_radius must be a number")])  # fmt: skip
def test_plugin_options_are_validated(radius, says, tmp_path):
    """NaN and infinite radii crashed the process inside Pillow (exit 139, no message), 'abc' was an internal error."""
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "remove the cat", "--editor", "blur",
                                  "--detections", str(EXAMPLES / "dets_cat.json"), "--box-mask", "-O", f"blur_radius={radius}",
                                  "-o", str(tmp_path / "x.png")])  # fmt: skip
    assert r.exit_code == 2 and says in r.stderr and not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("given,says", [
    ("blur_raduis=20", "unknown option 'blur_raduis'; did you mean 'blur_radius'?"),
    ("steps=5", "option 'steps' is not used by the chosen stages (rules, grounded-sam, blur); it is an option of editor diffedit"),
])  # fmt: skip
def test_a_plugins_declared_options_are_checked_like_the_builtins(given, says, tmp_path):
    """The example plugin declares its options (``blur_editor.spec``): a mistyped name was silently ignored (the
    default radius used), another stage's option too; both are refused up front now, with the close match."""
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "remove the cat", "--editor", "blur",
                                  "--detections", str(EXAMPLES / "dets_cat.json"), "--box-mask", "-O", given,
                                  "-o", str(tmp_path / "x.png")])  # fmt: skip
    assert r.exit_code == 2 and not (tmp_path / "x.png").exists()
    assert says in r.stderr, r.stderr


def test_a_broken_plugin_is_listed_as_such_and_cannot_take_a_builtins_name(tmp_path):
    """A plugin whose module is missing: `stages` lists the others and says why it cannot be loaded, choosing it is
    exit 5 in one line; a plugin named like a built-in stage ("diffedit") does not replace it, with a warning."""
    import os
    import subprocess
    import sys

    dist = tmp_path / "site" / "brokenplug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[refedit.editors]\nbroken = nonexistent_mod_xyz:factory\n"
                                           "diffedit = nonexistent_mod_xyz:factory\n")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "refedit.cli", *args], capture_output=True, text=True, env=env)

    r = cli("stages", "--json")
    assert r.returncode == 0, r.stderr
    rows = {(x["kind"], x["name"]): x for x in json.loads(r.stdout)}
    assert rows[("editor", "broken")]["source"] == "brokenplug" and "ModuleNotFoundError" in rows[("editor", "broken")]["error"]
    assert rows[("editor", "diffedit")]["source"] == "refedit" and "error" not in rows[("editor", "diffedit")]
    assert "two installed editors are named 'diffedit' (refedit, brokenplug); brokenplug's is not used" in r.stderr
    r = cli("edit", str(EXAMPLES / "cat.jpg"), "remove the cat", "--editor", "broken", "-o", str(tmp_path / "o.png"))
    assert r.returncode == 5 and "Traceback" not in r.stderr, r.stderr
    assert "the editor 'broken' from brokenplug cannot be loaded: ModuleNotFoundError" in r.stderr.splitlines()[-1]


@pytest.mark.parametrize("broken,says", [
    ("raise", "failed in edit(): RuntimeError: boom"),
    ("string", "returned str, not an EditResult"),
    ("small", "failed in edit(): ValueError: result image (10, 10) and mask"),
    ("params", "returned parameters that are not JSON"),  # the image was written, then the record failed
])  # fmt: skip
def test_a_failing_plugin_is_named_not_reported_as_refedits_bug(broken, says, tmp_path, monkeypatch):
    """A plugin editor that raised, or returned no EditResult, was refedit's 'internal error: ... (a bug; report
    it)'; it is the plugin's error now, naming it (exit 1 still: a bug, but whose)."""
    import refedit_blur
    from refedit.pipeline.artifacts import EditResult

    def edit(self, *, image, plan, segmentation, seed):  # type: ignore[no-untyped-def]
        if broken == "raise":
            raise RuntimeError("boom")
        if broken == "string":
            return "an image"
        if broken == "params":
            return EditResult(image=image, plan=plan, segmentation=segmentation, parameters={"x": object()})
        return EditResult(image=image.resize((10, 10)), plan=plan, segmentation=segmentation)

    monkeypatch.setattr(refedit_blur.BlurEditor, "edit", edit)
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "remove the cat", "--editor", "blur",
                                  "--detections", str(EXAMPLES / "dets_cat.json"), "--box-mask",
                                  "-o", str(tmp_path / "x.png")])  # fmt: skip
    assert r.exit_code == 1 and not (tmp_path / "x.png").exists()
    assert "the editor 'blur' from refedit-blur" in r.stderr and says in r.stderr, r.stderr
    assert "report it to its authors" in r.stderr and "internal error" not in r.stderr


BAD_PLUGIN = '''
import numpy as np
from refedit.pipeline.stages import StageSpec


class _Seg:
    def __init__(self, mode):
        self.mode = mode

    def segment(self, *, image, plan, hints):
        from refedit.pipeline.artifacts import Segmentation
        if self.mode == "str":
            return "a mask"
        return Segmentation(mask=np.ones((5, 5), dtype=bool), reason="tiny")


class _Parser:
    def parse(self, *, instruction, image=None):
        return {"action": "remove"}


def dictparser(ctx):
    """Returns a dict."""
    return _Parser()


def smallseg(ctx):
    """Returns a 5x5 mask."""
    return _Seg("small")


def strseg(ctx):
    """Returns a string."""
    return _Seg("str")


def brokenspec(ctx):
    """Its spec's types() raises."""
    raise AssertionError("never built")


brokenspec.spec = StageSpec(types=lambda: 1 / 0)


def unknownrole(ctx):
    """Its spec names a model role refedit does not have."""
    raise AssertionError("never built")


unknownrole.spec = StageSpec(types=lambda: {}, roles=lambda options: {"vae9000": None})
'''


def test_a_plugins_wrong_results_and_broken_spec_are_named_and_listed(tmp_path):
    """A plugin parser's dict, a segmenter's 5x5 mask (written as the result by `segment`) or string, a spec whose
    types() raised: internal errors or a wrong output before; the plugin's error now, nothing written. A spec
    naming an unknown model role broke `refedit stages` for every stage; it is listed with why."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    (site / "badplug-0.1.dist-info").mkdir(parents=True)
    (site / "badplug-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    (site / "badplug-0.1.dist-info" / "entry_points.txt").write_text(
        "[refedit.parsers]\ndictparser = badplug:dictparser\n[refedit.segmenters]\nsmallseg = badplug:smallseg\n"
        "strseg = badplug:strseg\n[refedit.editors]\nbrokenspec = badplug:brokenspec\nunknownrole = badplug:unknownrole\n")
    (site / "badplug.py").write_text(BAD_PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "refedit.cli", *map(str, args)], capture_output=True, text=True,
                              env=env)  # fmt: skip

    cat, out = EXAMPLES / "cat.jpg", tmp_path / "out.png"
    for args, says in [
        (("parse", "remove the cat", "--parser", "dictparser"), "the parser 'dictparser' from badplug returned dict"),
        (("segment", cat, "the cat", "--segmenter", "smallseg", "-o", out), "returned a 5x5 mask for a 451x300 image"),
        (("segment", cat, "the cat", "--segmenter", "strseg", "-o", out), "returned str, not a Segmentation"),
        (("edit", cat, "remove the cat", "--editor", "brokenspec", "--box-mask", "--detections",
          EXAMPLES / "dets_cat.json", "-o", out), "failed in its spec's types(): ZeroDivisionError"),
    ]:
        r = cli(*args)
        assert r.returncode == 1 and "report it to its authors" in r.stderr, r.stderr
        assert says in r.stderr and "internal error" not in r.stderr and not out.exists(), r.stderr
    r = cli("stages", "--json")
    assert r.returncode == 0, r.stderr
    rows = {(x["kind"], x["name"]): x for x in json.loads(r.stdout)}
    assert "unknown model role 'vae9000'" in rows[("editor", "unknownrole")]["error"]
    assert "error" not in rows[("editor", "diffedit")] and rows[("editor", "diffedit")]["models"]
    r = cli("edit", cat, "remove the cat", "-O", "stepz=3", "-o", out)  # the broken spec does not hide the answer
    assert r.returncode == 2 and "did you mean 'steps'" in r.stderr, r.stderr
