"""Tiny random-weight metric models for ``refedit eval``'s tests, saved in the layouts the ModelStore roles read:
a DINO-style ViT (``dino`` role, transformers layout) and an LPIPS folder (``lpips`` role: config.json +
model.safetensors; LPIPS's backbones have fixed published shapes, so AlexNet's, with random weights). The
``clipscore`` role takes :func:`refedit.testing.tiny_models.build_tiny_clip`."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ViTConfig, ViTImageProcessor, ViTModel

from refedit.testing.tiny_models import TINY_LAYERS


def build_tiny_dino(path: str | Path, seed: int = 0) -> Path:
    """A tiny ViT (32 px images, 8 px patches) and its image processor."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    ViTModel(ViTConfig(**TINY_LAYERS, image_size=32, patch_size=8), add_pooling_layer=False).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def random_lpips(net: str = "alex", seed: int = 0, std: float = 0.05) -> "torch.nn.Module":
    """An LPIPS network with random (seeded, normal) weights."""
    from refedit.eval.metrics.lpips import LPIPS

    gen = torch.Generator().manual_seed(seed)
    model = LPIPS(net).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model


def build_tiny_lpips(path: str | Path, net: str = "alex", seed: int = 0) -> Path:
    """An LPIPS folder with random weights."""
    from refedit.eval.metrics.lpips import save_lpips

    return save_lpips(random_lpips(net, seed), path)


def build_eval_models(root: str | Path) -> dict[str, Path]:
    """role -> folder for the three metric roles."""
    from refedit.testing.tiny_models import build_tiny_clip

    root = Path(root)
    return {"clipscore": build_tiny_clip(root / "clipscore", seed=1), "dino": build_tiny_dino(root / "dino"),
            "lpips": build_tiny_lpips(root / "lpips")}  # fmt: skip


# --------------------------------------------------------------------------- small benchmark sets in every format
def _rows(manifest: Path) -> list[dict]:  # type: ignore[type-arg]
    import json

    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def _box_polygon(box: list[float]) -> list[float]:
    x0, y0, x1, y1 = box
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def _pie_rle(mask: "np.ndarray") -> list[int]:
    """PIE-Bench's encoding: (start, length) runs of the row-major flattened mask."""
    import numpy as np

    flat = np.concatenate([[0], mask.flatten().astype(np.int8), [0]])
    starts = np.flatnonzero(np.diff(flat) == 1)
    ends = np.flatnonzero(np.diff(flat) == -1)
    return [int(v) for pair in zip(starts, ends - starts) for v in pair]


def write_sample_sets(root: str | Path, n: int = 6, size: int = 96, seed: int = 0) -> dict[str, Path]:
    """The same ``n`` synthetic scenes as a data set in every format ``refedit eval`` reads: refedit manifests with
    PNG, COCO-RLE and polygon masks, a RefCOCO folder (instances.json + refs(unc).json), a PIE-Bench folder and a
    MagicBrush folder (two turns per session). Returns format name -> what to pass as DATA. Instructions recolour
    the referred shapes ("make the red circle on the left blue")."""
    import json
    import shutil

    import numpy as np
    from PIL import Image

    from refedit.eval.formats.rle import encode_rle
    from refedit.eval.synth import SynthOptions, generate

    root = Path(root)
    synth = generate(root / "synth", SynthOptions(n=n, seed=seed, size=size, miss=0.0, jitter=0.0, spurious=0.0))
    rows = _rows(synth)
    base = synth.parent
    masks = [np.asarray(Image.open(base / r["mask"])) > 127 for r in rows]
    out: dict[str, Path] = {}

    def manifest(name: str, mask_of) -> Path:  # type: ignore[no-untyped-def]
        lines = []
        for r, m in zip(rows, masks):
            row = {**r, "instruction": f"make {r['expression']} blue", "mask": mask_of(r, m),
                   "source_caption": "a photo of shapes", "edited_caption": "a photo of blue shapes",
                   "target_caption": "blue shapes", "target": r["image"]}  # fmt: skip
            del row["expression"]
            lines.append(json.dumps(row))
        path = base / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        return path

    out["manifest"] = manifest("manifest-png", lambda r, m: r["mask"])
    out["manifest-rle"] = manifest("manifest-rle", lambda r, m: encode_rle(m))
    out["manifest-polygon"] = manifest("manifest-polygon", lambda r, m: {"polygons": [_box_polygon(b) for b in r["boxes"]]})

    coco = root / "refcoco"
    (coco / "images").mkdir(parents=True)
    images, anns, refs = [], [], []
    for i, r in enumerate(rows):
        shutil.copy(base / r["image"], coco / "images" / Path(r["image"]).name)
        images.append({"id": i, "file_name": Path(r["image"]).name, "height": size, "width": size})
        x0, y0, x1, y1 = r["boxes"][0]
        segm = encode_rle(masks[i]) if i % 2 else [_box_polygon(b) for b in r["boxes"]]
        anns.append({"id": 100 + i, "image_id": i, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                     "segmentation": segm, "iscrowd": int(i % 2)})  # fmt: skip
        refs.append({"ref_id": i, "ann_id": 100 + i, "image_id": i, "split": "val", "category_id": 1,
                     "sentences": [{"sent_id": 1000 + i, "sent": r["expression"]}]})  # fmt: skip
    (coco / "instances.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                     "categories": [{"id": 1, "name": "shape"}]}))  # fmt: skip
    (coco / "refs(unc).json").write_text(json.dumps(refs))
    out["refcoco"] = coco

    pie = root / "piebench"
    (pie / "annotation_images" / "0_random").mkdir(parents=True)
    mapping = {}
    for i, (r, m) in enumerate(zip(rows, masks)):
        shutil.copy(base / r["image"], pie / "annotation_images" / "0_random" / Path(r["image"]).name)
        mapping[f"{i:012d}"] = {"image_path": f"0_random/{Path(r['image']).name}", "original_prompt": "a photo of shapes",
                                "editing_prompt": "a photo of [blue] shapes", "editing_instruction": f"make {r['expression']} blue",
                                "editing_type_id": str(i % 2), "blended_word": "shapes shapes", "mask": _pie_rle(m)}  # fmt: skip
    (pie / "mapping_file.json").write_text(json.dumps(mapping))
    out["piebench"] = pie

    mb = root / "magicbrush"
    sessions = {}
    for s in range(n // 2):
        sid = f"{500 + s}"
        folder = mb / "images" / sid
        folder.mkdir(parents=True)
        turns = []
        for k in (1, 2):
            i = 2 * s + k - 1
            src = Image.open(base / rows[i]["image"]).convert("RGB")
            src.save(folder / (f"{sid}-input.png" if k == 1 else f"{sid}-output{k - 1}.png"))
            rgba = src.convert("RGBA")
            alpha = np.where(masks[i], 0, 255).astype(np.uint8)  # DALL-E 2-style: transparent = the region
            rgba.putalpha(Image.fromarray(alpha))
            rgba.save(folder / f"{sid}-mask{k}.png")
            target = np.asarray(src).copy()
            target[masks[i]] = (40, 78, 215)
            Image.fromarray(target).save(folder / f"{sid}-output{k}.png")
            turns.append({"input": f"{sid}-input.png" if k == 1 else f"{sid}-output{k - 1}.png", "mask": f"{sid}-mask{k}.png",
                          "output": f"{sid}-output{k}.png", "instruction": f"make {rows[i]['expression']} blue"})  # fmt: skip
        sessions[sid] = turns
    (mb / "edit_sessions.json").write_text(json.dumps(sessions))
    (mb / "local_descriptions.json").write_text(json.dumps({sid: {t["output"]: "blue shapes" for t in ts} for sid, ts in sessions.items()}))
    out["magicbrush"] = mb
    return out
