"""The benchmark readers: each format's documented layout read into samples, the RefCOCO pickle only behind
--trust-pickle (and even then no code runs), paths outside the data folder refused, malformed files refused."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from refedit.errors import BadInput
from refedit.eval.formats import detect, read_dataset
from refedit.eval.samples import check_samples


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from refedit.testing.tiny_eval import write_sample_sets

    return write_sample_sets(tmp_path_factory.mktemp("eval-sets"))


@pytest.mark.parametrize("fmt,expected", [("manifest", "manifest"), ("manifest-rle", "manifest"),
                                          ("manifest-polygon", "manifest"), ("refcoco", "refcoco"),
                                          ("piebench", "piebench"), ("magicbrush", "magicbrush")])  # fmt: skip
def test_every_format_is_detected_and_read(fmt: str, expected: str, sets: dict[str, Path]) -> None:
    assert detect(sets[fmt])[0] == expected
    ds = read_dataset(sets[fmt])
    assert ds.format == expected and len(ds.samples) == 6
    check_samples(ds.samples, need_mask=True)
    png = read_dataset(sets["manifest"]).samples
    for s, ref in zip(ds.samples, png):
        truth = s.truth((96, 96))
        if fmt in ("manifest-rle", "magicbrush") or (fmt == "refcoco" and ref.id in ("scene_00001", "scene_00003", "scene_00005")):
            assert np.array_equal(truth, ref.truth((96, 96)))  # lossless encodings give the PNG mask back
        elif fmt == "piebench":  # PIE-Bench's decoder also sets the border
            border = np.ones((96, 96), dtype=bool)
            border[1:-1, 1:-1] = False
            assert np.array_equal(truth, ref.truth((96, 96)) | border)
        else:  # box polygons: the box holds the shape
            assert (truth | ref.truth((96, 96))).sum() == truth.sum()


def test_fields_each_format_carries(sets: dict[str, Path]) -> None:
    pie = read_dataset(sets["piebench"]).samples[0]
    assert pie.edited_caption == "a photo of blue shapes" and pie.source_caption == "a photo of shapes"  # no brackets
    assert pie.name == "0_random/scene_00000.png" and pie.category == "0"
    mb = read_dataset(sets["magicbrush"]).samples
    assert [s.id for s in mb[:2]] == ["500-1", "500-2"] and mb[1].image.name == "500-output1.png"
    assert mb[0].target is not None and mb[0].target.name == "500-output1.png" and mb[0].target_caption == "blue shapes"
    coco = read_dataset(sets["refcoco"]).samples[0]
    assert coco.id == "1000" and coco.box is not None and coco.category == "shape"
    man = read_dataset(sets["manifest"]).samples[0]
    assert man.detections is not None and man.detections.is_file() and man.boxes


def test_refs_pickle_needs_trust_and_then_becomes_json(sets: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "refcoco"
    shutil.copytree(sets["refcoco"], data)
    refs = json.loads((data / "refs(unc).json").read_text())
    (data / "refs(unc).json").unlink()
    (data / "refs(unc).p").write_bytes(pickle.dumps(refs, protocol=2))
    with pytest.raises(BadInput, match="pickle, which can run code.*--trust-pickle"):
        read_dataset(data)
    assert not (data / "refs(unc).json").exists()
    samples = read_dataset(data, trust_pickle=True).samples
    assert len(samples) == 6 and json.loads((data / "refs(unc).json").read_text()) == refs
    (data / "refs(unc).p").write_bytes(b"not a pickle")  # the JSON export is read from now on
    assert len(read_dataset(data).samples) == 6


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path("/tmp/refedit-pwned-by-pickle"),))


def test_a_pickle_with_code_is_refused_even_when_trusted(sets: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "refcoco"
    shutil.copytree(sets["refcoco"], data)
    (data / "refs(unc).json").unlink()
    (data / "refs(unc).p").write_bytes(pickle.dumps([_Evil()]))
    Path("/tmp/refedit-pwned-by-pickle").unlink(missing_ok=True)
    with pytest.raises(BadInput, match="only plain data"):
        read_dataset(data, trust_pickle=True)
    assert not Path("/tmp/refedit-pwned-by-pickle").exists()


def test_paths_outside_the_data_folder_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8)).save(outside)
    data = tmp_path / "data"
    data.mkdir()
    (data / "m.jsonl").write_text(json.dumps({"image": "../elsewhere.png", "expression": "the cat"}) + "\n")
    with pytest.raises(BadInput, match="outside the data folder"):
        read_dataset(data / "m.jsonl")
    assert read_dataset(data / "m.jsonl", allow_outside=True).samples[0].image == outside.resolve()
    pie = tmp_path / "pie"
    pie.mkdir()
    (pie / "mapping_file.json").write_text(json.dumps({"1": {"image_path": "/etc/hosts", "original_prompt": "a",
                                                              "editing_prompt": "b", "mask": []}}))  # fmt: skip
    with pytest.raises(BadInput, match="outside the data folder"):
        read_dataset(pie)


@pytest.mark.parametrize("row,message", [
    ({"expression": "the cat"}, "missing 'image'"),
    ({"image": "a.png"}, "missing 'expression' or 'instruction'"),
    ({"image": "a.png", "expression": "x", "box": [3, 3, 1, 1]}, "x0 < x1"),
    ({"image": "a.png", "expression": "x", "mask": 7}, "mask must be"),
    ({"image": "a.png", "expression": "x", "captoin": "y"}, "unknown key 'captoin'"),
])  # fmt: skip
def test_bad_manifest_rows_name_the_line(row: dict, message: str, tmp_path: Path) -> None:  # type: ignore[type-arg]
    (tmp_path / "m.jsonl").write_text("\n" + json.dumps(row) + "\n")
    with pytest.raises(BadInput, match=f"m.jsonl:2: .*{message}"):
        read_dataset(tmp_path / "m.jsonl")


def test_check_samples_refuses_what_cannot_be_scored(sets: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text(json.dumps({"image": "x.png", "expression": "the cat"}) + "\n")
    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    samples = read_dataset(tmp_path / "m.jsonl").samples
    with pytest.raises(BadInput, match="no ground-truth mask"):
        check_samples(samples, need_mask=True)
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(BadInput, match="cannot be read as an image"):
        check_samples(samples)
    with pytest.raises(BadInput, match="cannot tell the format"):
        read_dataset(tmp_path)
