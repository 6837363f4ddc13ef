"""The chain and the Python API on the tiny models."""

import numpy as np
from PIL import Image

import refedit
from refedit.pipeline.artifacts import EditRequest, Hints
from refedit.pipeline.chain import Pipeline
from refedit.pipeline.models import ModelStore

from .conftest import EXAMPLES, FAST


def test_pipeline_records_stage_timings_and_shares_one_store(tiny_settings):
    store = ModelStore(tiny_settings)
    pipe = Pipeline.build(tiny_settings, options=FAST, store=store)
    img = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64))
    result = pipe.run(EditRequest(img, "make the cup red", seed=1))
    assert set(result.timings) == {"parse", "segment", "edit", "total"}
    assert result.timings["total"] >= result.timings["edit"] > 0
    assert result.image.size == img.size and result.segmentation.mask.shape == (64, 96)
    assert pipe.segmenter.sam.embed_calls == 1  # SAM embedding once, however many candidates
    loaded = [c for _, c in store.loads]
    assert len(loaded) == len(set(store.loads))  # every component loaded once


def test_a_pipeline_shared_by_threads_runs_one_request_at_a_time(tiny_settings):
    """Its stages keep the photo's state (SAM's embedding, set then read): two threads running one pipeline on two
    photos could decode one photo's masks from the other's embedding. Runs wait for each other; results as serial."""
    import threading
    import time

    pipe = Pipeline.build(tiny_settings, options=FAST)
    photos = [Image.open(EXAMPLES / name).convert("RGB").resize((96, 64)) for name in ("coffee.jpg", "cat.jpg")]
    texts = ["make the cup red", "replace the cat with a tiger"]
    serial = [np.asarray(pipe.run(EditRequest(p, t, seed=1)).image) for p, t in zip(photos, texts)]
    inside, most = [0], [0]
    real = pipe.segmenter.segment

    def segment(**kw):  # the real stage, counting the runs inside it at once
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.2)  # room for the other thread to come in
        try:
            return real(**kw)
        finally:
            inside[0] -= 1

    pipe.segmenter.segment = segment
    out: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, np.asarray(
        pipe.run(EditRequest(photos[i], texts[i], seed=1)).image))) for i in range(2)]  # fmt: skip
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert most[0] == 1 and all(np.array_equal(out[i], serial[i]) for i in range(2))


def test_exact_mask_bypasses_segmentation(tiny_settings):
    pipe = Pipeline.build(tiny_settings, options=FAST)
    img = Image.new("RGB", (64, 64), (90, 120, 200))
    mask = np.zeros((64, 64), bool)
    mask[10:30, 20:40] = True
    result = pipe.run(EditRequest(img, "replace the box with a ball", hints=Hints(mask=mask)))
    assert result.segmentation.segmenter == "user-mask" and np.array_equal(result.segmentation.mask, mask)
    assert pipe.segmenter.sam.embed_calls == 0


def test_python_api(tiny_env, monkeypatch):
    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    result = refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", seed=2, **FAST)
    assert result.image.size == Image.open(EXAMPLES / "cat.jpg").size
    assert result.parameters["seed"] == 2 and result.plan.replacement == "tiger"


def test_segment_only_takes_bare_expressions_and_hint_only_instructions(tiny_settings):
    """The library gets ``refedit segment``'s plan fallbacks: an expression without an edit, or (with hints)
    words that name nothing; without hints those stay unclear (exit 3)."""
    import pytest

    from refedit.errors import UnclearInstruction

    pipe = Pipeline.build(tiny_settings, options=FAST)
    img = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64))
    plan, seg = pipe.segment_only(EditRequest(img, "the second cup from the left"))
    assert (plan.target.head, plan.target.ordinal, plan.target.spatial) == ("cup", 2, "left") and seg.mask.any()
    plan, seg = pipe.segment_only(EditRequest(img, "this", hints=Hints(boxes=((10, 10, 40, 40),))))
    assert plan.action == "global" and seg.mask[10:40, 10:40].any()
    with pytest.raises(UnclearInstruction):
        pipe.segment_only(EditRequest(img, "this"))
    with pytest.raises(UnclearInstruction, match="by what it is not"):  # the bare expression lost its "not"
        pipe.segment_only(EditRequest(img, "the cup that is not on the left"))
    plan, seg = pipe.segment_only(EditRequest(img, "the cup that is not on the left", hints=Hints(boxes=((10, 10, 40, 40),))))
    assert seg.mask.any()  # with hints, the hints choose


def test_python_api_takes_pictures_in_memory_as_files_and_checks_its_inputs(tmp_path, tiny_env, monkeypatch):
    """refedit.edit normalises a PIL image or a uint8 array as a file is (16-bit scaled, alpha on white), and
    refuses what the command line refuses, as refedit's own errors, before any model loads."""
    import pytest

    from refedit.errors import BadInput
    from refedit.pipeline.imageio import image_in_memory, load_image

    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    deep = Image.fromarray((np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20).astype(np.uint16))  # I;16
    deep.save(tmp_path / "deep.png")
    rgba = Image.new("RGBA", (32, 24), (10, 200, 30, 0))
    rgba.save(tmp_path / "clear.png")
    for img, path in ((deep, "deep.png"), (rgba, "clear.png")):
        assert np.array_equal(np.asarray(image_in_memory(img).rgb), np.asarray(load_image(tmp_path / path).rgb))
    arr = np.asarray(Image.open(EXAMPLES / "cat.jpg").convert("RGB"))
    assert np.array_equal(np.asarray(image_in_memory(arr).rgb), arr)
    cat = EXAMPLES / "cat.jpg"
    for call, needle in (
        (lambda: refedit.edit(b"\x89PNG", "remove the cat"), "not bytes"),
        (lambda: refedit.edit(arr.astype(np.float32), "remove the cat"), "uint8"),
        (lambda: refedit.edit(cat, None), "must be text"),
        (lambda: refedit.edit(cat, "remove the cat", seed=-1), "seed"),
        (lambda: refedit.edit(cat, "remove the cat", seed="abc"), "seed"),
        (lambda: refedit.edit(cat, "remove the cat", hints=Hints(boxes=((1000.0, 1000.0, 2000.0, 2000.0),))),
         "not inside the 451x300 image"),
        (lambda: refedit.edit(cat, "remove the cat", hints={"boxes": [[1, 2, 3, 4]]}), "must be a refedit Hints"),
        (lambda: refedit.edit(np.zeros((0, 0, 3), np.uint8), "remove the cat"), "no pixels"),  # a ZeroDivisionError
        (lambda: refedit.edit(Image.new("RGB", (0, 0)), "remove the cat"), "no pixels"),
        (lambda: Hints(boxes=((200, 200, 10, 10),)), "x0 <= x1"),  # a ValueError, no exit code
        (lambda: Hints(points=((1, 2, 3),)), "2 numbers"),
        (lambda: Hints(mask=np.ones((4, 4), np.uint8)), "bool"),
        (lambda: refedit.edit(cat, "remove the cat", device="mps"), "MPS is not available"),  # a RuntimeError
    ):
        with pytest.raises(BadInput, match=needle):
            call()


def test_pipeline_build_checks_its_options(tiny_settings):
    """A misspelt option, or one no chosen stage takes, is one BadInput line (it used to be ignored silently);
    values are typed as on the command line; check=False builds without looking."""
    import pytest

    from refedit.errors import BadInput

    with pytest.raises(BadInput, match="unknown option 'stepz'.*steps"):
        Pipeline.build(tiny_settings, options={"stepz": 3})
    with pytest.raises(BadInput, match="refdiff_resolution.*segmenter refdiff"):
        Pipeline.build(tiny_settings, options={"refdiff_resolution": 256})
    with pytest.raises(BadInput, match="steps"):
        Pipeline.build(tiny_settings, options={"steps": 0})
    pipe = Pipeline.build(tiny_settings, options={"steps": "4", "box_threshold": "0.2"})
    assert pipe.editor.options.steps == 4 and pipe.segmenter.options.box_threshold == 0.2
    assert Pipeline.build(tiny_settings, options={"stepz": 3}, check=False)


def test_a_plain_import_gives_the_errors_without_torch():
    """``except refedit.errors.Ambiguous`` works after ``import refedit`` alone, which stays light (no torch)."""
    import subprocess
    import sys

    code = "import refedit, sys; assert issubclass(refedit.errors.Ambiguous, refedit.errors.RefEditError); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_python_api_keeps_the_models_loaded_between_calls(tiny_env, monkeypatch):
    """A script calling refedit.edit per photo loads the models once (it rebuilt the store, so reloaded every
    model, per call); other settings get a new store, release() frees it; a call that fails before it runs keeps
    the last call's models (it dropped them)."""
    import pytest

    from refedit.errors import ModelUnavailable
    from refedit.pipeline import models as models_module

    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    refedit.release()
    made = []
    real = models_module.ModelStore.__init__

    def counting(self, *a, **k):
        made.append(self)
        real(self, *a, **k)

    monkeypatch.setattr(models_module.ModelStore, "__init__", counting)
    a = refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", seed=1, **FAST)
    b = refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", seed=1, **FAST)
    assert len(made) == 1 and np.array_equal(np.asarray(a.image), np.asarray(b.image))
    refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", seed=1, dtype="float32", device="cpu", **FAST)
    assert len(made) == 2  # other settings: another store (the first one dropped)
    kept = refedit._last_store  # noqa: SLF001
    with pytest.raises(ModelUnavailable):  # a model that is not there: the call fails, the loaded models stay
        refedit.edit(EXAMPLES / "cat.jpg", "replace the cat with a tiger", models={"sd": "/nonexistent/sd"}, **FAST)
    assert refedit._last_store is kept  # noqa: SLF001
    from refedit.pipeline.segment import tokens

    assert tokens._made  # the prompts' tokens, kept for the next photo
    refedit.release()
    assert refedit._last_store is None and not tokens._made


def test_python_api_called_from_two_threads_on_first_use(tiny_env):
    """Two threads calling refedit.edit before any model was loaded: each built a store and both loaded at once,
    which transformers does not survive ("Cannot copy out of meta tensor", and every later load in the process
    got meta weights). Loads are one at a time in the process; both results equal the serial ones. In a fresh
    process, so that a regression cannot poison the test session's own loads."""
    import os
    import subprocess
    import sys

    code = f"""
import threading, numpy as np, refedit
jobs = [("{EXAMPLES / 'cat.jpg'}", "replace the cat with a tiger", 0), ("{EXAMPLES / 'coins.jpg'}", "make the left coin gold", 1)]
fast = {FAST!r}
out, errors = {{}}, []
def work(path, text, seed):
    try:
        out[path] = np.asarray(refedit.edit(path, text, seed=seed, **fast).image)
    except Exception as err:
        errors.append(repr(err))
threads = [threading.Thread(target=work, args=job) for job in jobs]
[t.start() for t in threads]; [t.join() for t in threads]
assert not errors, errors
for path, text, seed in jobs:
    assert np.array_equal(out[path], np.asarray(refedit.edit(path, text, seed=seed, **fast).image)), path
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       env={**os.environ, **tiny_env})  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_python_api_refuses_misshapen_arguments_in_one_line():
    """A flat box (boxes=(x0, y0, x1, y1)) was "object of type 'int' has no len()"; models="dir" an AttributeError."""
    import pytest

    from refedit.errors import BadInput

    with pytest.raises(BadInput, match=r"hint boxes must be a list of \(x0, y0, x1, y1\), e.g. boxes=\[\(x0"):
        refedit.Hints(boxes=(10, 10, 200, 290))
    with pytest.raises(BadInput, match=r"hint points must be a list of \(x, y\)"):
        Hints(points=(100, 150))
    assert Hints(boxes=np.array([[1, 2, 30, 40]])).boxes == ((1.0, 2.0, 30.0, 40.0),)
    with pytest.raises(BadInput, match="models must map roles to model ids or folders .*, not str"):
        refedit.edit(EXAMPLES / "cat.jpg", "make the cat red", models="/models/sd")


def test_python_api_takes_a_pil_image_as_its_file_is_read(tmp_path, tiny_env, monkeypatch):
    """A PIL image opened from a rotated JPEG (EXIF orientation 6) was edited as stored, sideways ('left' another
    object, the output rotated against the input); and result.save() over the file it was opened from replaced
    the photo (a path was refused). Both now as for a path."""
    import pytest

    from refedit.errors import BadInput

    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    photo = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(EXAMPLES / "cat.jpg").resize((96, 64)).save(photo, exif=exif)
    by_path = refedit.edit(photo, "make the cat red", seed=1, **FAST)
    by_pil = refedit.edit(Image.open(photo), "make the cat red", seed=1, **FAST)
    assert by_path.image.size == by_pil.image.size == (64, 96)
    assert np.array_equal(np.asarray(by_path.image), np.asarray(by_pil.image))
    before = photo.read_bytes()
    with pytest.raises(BadInput):
        by_pil.save(photo)
    with pytest.raises(BadInput):
        by_pil.save(tmp_path / "out.png", mask=photo)
    assert photo.read_bytes() == before


def test_python_api_result_saves_as_the_command_line_writes(tmp_path, tiny_env, monkeypatch):
    """``result.save`` gives a library user the command line's output: the input's alpha channel and colour
    profile put back (``result.image`` is RGB on white), the ``refedit`` PNG text, the mask, never over the input
    (the alpha and profile were lost when a script saved ``result.image`` itself)."""
    import json

    import pytest
    from PIL import ImageCms

    from refedit.errors import BadInput

    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgba = Image.open(EXAMPLES / "cat.jpg").convert("RGBA").resize((96, 64))
    alpha = np.full((64, 96), 255, np.uint8)
    alpha[:, :20] = 0  # a transparent strip on the left
    rgba.putalpha(Image.fromarray(alpha))
    src = tmp_path / "clear.png"
    rgba.save(src, icc_profile=profile)
    for given in (src, Image.open(src)):  # a path, and the PIL image a script already holds
        result = refedit.edit(given, "make the cat red", seed=1, **FAST)
        assert result.image.mode == "RGB"
        files = result.save(tmp_path / "out.png", mask=tmp_path / "mask.png")
        out = Image.open(files[0])
        assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], alpha)
        assert out.info.get("icc_profile") == profile
        assert json.loads(out.info["refedit"])["instruction"] == "make the cat red"
        assert np.array_equal(np.asarray(Image.open(tmp_path / "mask.png")) > 0, result.segmentation.mask)
        assert files == [tmp_path / "out.png", tmp_path / "mask.png"]
    result = refedit.edit(src, "make the cat red", seed=1, **FAST)
    before = src.read_bytes()
    for path, mask in ((src, None), (tmp_path / "o.png", src), (tmp_path / "o.png", tmp_path / "o.png")):
        with pytest.raises(BadInput):  # over the input, the mask over the input, the mask over the image
            result.save(path, mask=mask)
    assert src.read_bytes() == before and not (tmp_path / "o.png").exists()


def test_python_api_segments_without_editing(tiny_env, monkeypatch):
    """``refedit.segment`` is ``refedit segment`` for a script: the plan and the mask, from an edit or a bare
    expression, hints alone choosing, the models shared with ``refedit.edit``, bad input refused as BadInput."""
    import pytest

    from refedit.errors import BadInput, UnclearInstruction

    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    img = Image.open(EXAMPLES / "coffee.jpg").convert("RGB").resize((96, 64))
    fast = {"box_threshold": 0.0, "on_ambiguous": "best"}
    plan, seg = refedit.segment(img, "the second cup from the left", **fast)
    assert (plan.target.head, plan.target.ordinal, plan.target.spatial) == ("cup", 2, "left")
    assert seg.mask.shape == (64, 96) and seg.mask.dtype == bool and seg.mask.any() and seg.chosen
    plan, seg = refedit.segment(np.asarray(img), "this", hints=Hints(boxes=((10, 10, 40, 40),)), **fast)
    assert plan.action == "global" and seg.mask[10:40, 10:40].any()
    store = refedit._last_store[1]  # noqa: SLF001
    refedit.edit(img, "make the left cup red", seed=0, **FAST)
    assert refedit._last_store[1] is store  # noqa: SLF001 - same settings: the models loaded once
    with pytest.raises(UnclearInstruction):
        refedit.segment(img, "this")
    with pytest.raises(BadInput, match="unknown option 'stepz'"):
        refedit.segment(img, "the cup", stepz=3)
    with pytest.raises(BadInput, match="must be text"):
        refedit.segment(img, 3)


def test_library_errors_name_the_librarys_arguments_not_the_command_lines(tiny_env, monkeypatch, tmp_path):
    """A Python caller is told ``pick=N`` and ``hints=Hints(points=...)``, not ``--pick N`` and ``--point``; the class
    and exit code stay the command line's."""
    import json

    import pytest

    from refedit.errors import Ambiguous, library_wording

    assert library_wording("choose with --pick N (1-2), or say which with --point X,Y") == (
        "choose with pick=N (1-2), or say which with hints=Hints(points=[X,Y])")
    assert library_wording("--on-ambiguous best; set --sam-model") == "on_ambiguous='best'; set models={'sam': ...}"
    for k, v in tiny_env.items():
        monkeypatch.setenv(k, v)
    dets = tmp_path / "dets.json"  # two cats that score the same: ambiguous
    dets.write_text(json.dumps([{"box": [10, 10, 100, 100], "score": 0.8, "label": "cat"},
                                {"box": [200, 10, 290, 100], "score": 0.8, "label": "cat"}]))  # fmt: skip
    with pytest.raises(Ambiguous) as err:
        refedit.segment(Image.new("RGB", (300, 120)), "the cat", detections=str(dets), box_mask=True)
    assert err.value.exit_code == 7 and "pick=" in str(err.value) and "--" not in str(err.value), str(err.value)
