"""``refedit eval synth``: an offline referring-segmentation benchmark with exact answers.

Each scene is a textured background with several non-overlapping coloured shapes (circle, square, triangle, star)
of varied sizes; one referring expression per scene picks some of them, and the scene is drawn so the expression
has exactly one right answer ("the red circle on the left", "the second square from the right", "the biggest
triangle", "all the blue stars"), with distractors of the same class (other colours, positions, sizes) and of
other classes. Masks are exact (the shapes are drawn without antialiasing, mask and image from the same polygon).

Beside each scene, a **noisy-oracle detections** file stands in for GroundingDINO (``--detections``): every true
instance's box jittered by a Gaussian of ``jitter`` x its size per coordinate, missed with probability ``miss``,
scored N(0.75, 0.1) clipped to [0.35, 0.99], labelled with its class; plus Poisson(``spurious``) false boxes of
random classes scoring U(0.30, 0.60). So ``refedit eval segment OUT/manifest.jsonl --box-mask`` measures the
parser + resolver + mask chain end to end without any weights.

Layout written (into a temporary folder renamed to OUT at the end): ``images/``, ``masks/``, ``detections/``,
``manifest.jsonl`` (refedit's manifest format, ``category`` = the generator's kind) and ``synth.json`` (the
parameters)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from refedit.errors import BadInput

CLASSES = ("circle", "square", "triangle", "star")
COLOURS = {"red": (215, 38, 38), "green": (34, 160, 60), "blue": (40, 78, 215), "yellow": (232, 196, 30)}
#: the generator's kinds (the expression's construction), in the order scenes cycle through them
KINDS = ("plain", "attribute", "spatial", "ordinal", "size", "all", "spatial-attribute", "all-attribute")
SIDES = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom"}
ORDINALS = {2: "second", 3: "third"}
#: positions of same-class instances along the axis an expression uses must differ by this share of the image
GAP = 0.08


@dataclass(frozen=True)
class SynthOptions:
    """Scene count, seed, image side in pixels, and the noisy oracle's miss rate, box jitter and false boxes."""

    n: int = 200
    seed: int = 0
    size: int = 256
    miss: float = 0.1
    jitter: float = 0.05
    spurious: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 100_000:
            raise BadInput(f"--n must be from 1 to 100000, got {self.n}")
        if not 96 <= self.size <= 2048:
            raise BadInput(f"--size must be from 96 to 2048 pixels, got {self.size}")
        for name in ("miss", "jitter"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise BadInput(f"--{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.spurious <= 20.0:
            raise BadInput(f"--spurious must be in [0, 20], got {self.spurious}")


@dataclass(frozen=True)
class Shape:
    cls: str
    colour: str
    cx: float
    cy: float
    r: float


@dataclass(frozen=True)
class Scene:
    shapes: tuple[Shape, ...]
    targets: tuple[int, ...]
    expression: str
    kind: str


def outline(s: Shape) -> list[tuple[float, float]] | None:
    """The shape's polygon (None for a circle, drawn as an ellipse)."""
    if s.cls == "circle":
        return None
    if s.cls == "square":
        h = 0.85 * s.r
        return [(s.cx - h, s.cy - h), (s.cx + h, s.cy - h), (s.cx + h, s.cy + h), (s.cx - h, s.cy + h)]
    if s.cls == "triangle":
        return [(s.cx + s.r * math.cos(a), s.cy - s.r * math.sin(a)) for a in (math.pi / 2, 7 * math.pi / 6, 11 * math.pi / 6)]
    pts = []
    for k in range(10):  # star: 5 points, inner radius 0.45 r
        a = math.pi / 2 + k * math.pi / 5
        rad = s.r if k % 2 == 0 else 0.45 * s.r
        pts.append((s.cx + rad * math.cos(a), s.cy - rad * math.sin(a)))
    return pts


def draw(draw_on: ImageDraw.ImageDraw, s: Shape, fill: int | tuple[int, int, int]) -> None:
    poly = outline(s)
    if poly is None:
        draw_on.ellipse([s.cx - s.r, s.cy - s.r, s.cx + s.r, s.cy + s.r], fill=fill)
    else:
        draw_on.polygon(poly, fill=fill)


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted texture: low-frequency waves in a random tint, stripes or not, plus pixel noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    field = np.zeros((size, size))
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.5, 4.0), rng.uniform(0.5, 4.0), rng.uniform(0, 2 * np.pi)
        field += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    if rng.random() < 0.5:
        field += 0.8 * np.sign(np.sin(2 * np.pi * rng.uniform(8, 20) * (x if rng.random() < 0.5 else y)))
    base = rng.uniform(105, 150, size=3)
    img = base[None, None, :] + 12.0 * field[..., None] + rng.normal(0, 6, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _mask(s: Shape, size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw(ImageDraw.Draw(canvas), s, 255)
    return np.asarray(canvas) > 0


# --------------------------------------------------------------------------- scene construction
def _place(rng: np.random.Generator, size: int, specs: list[tuple[str, str, float]],
           fixed: list[Shape]) -> list[Shape] | None:  # fmt: skip
    """Shapes for (class, colour, radius) ``specs`` at random free positions (None when they do not fit)."""
    shapes = list(fixed)
    for cls, colour, r in specs:
        for _ in range(200):
            cx, cy = rng.uniform(r + 2, size - r - 2, size=2)
            if all(math.hypot(cx - o.cx, cy - o.cy) > r + o.r + 4 for o in shapes):
                shapes.append(Shape(cls, colour, float(cx), float(cy), float(r)))
                break
        else:
            return None
    return shapes[len(fixed):]


def _axis(side: str) -> Callable[[Shape], float]:
    """Sort key: the instance the side word names first sorts first."""
    return {"left": lambda s: s.cx, "right": lambda s: -s.cx, "top": lambda s: s.cy, "bottom": lambda s: -s.cy}[side]


def _separated(values: list[float], gap: float) -> bool:
    v = sorted(values)
    return all(b - a >= gap for a, b in zip(v, v[1:]))


def _attempt(rng: np.random.Generator, size: int, kind: str) -> Scene | None:
    cls = str(rng.choice(CLASSES))
    others = [c for c in CLASSES if c != cls]
    colours = list(COLOURS)
    radius = lambda: float(rng.uniform(0.055, 0.11) * size)  # noqa: E731
    n_same = {"plain": 1, "attribute": int(rng.integers(2, 4)), "spatial": int(rng.integers(2, 4)),
              "ordinal": int(rng.integers(3, 5)), "size": int(rng.integers(2, 4)), "all": int(rng.integers(2, 4)),
              "spatial-attribute": int(rng.integers(3, 5)), "all-attribute": int(rng.integers(3, 5))}[kind]  # fmt: skip
    target_colour = str(rng.choice(colours))
    same_colours = [str(rng.choice(colours)) for _ in range(n_same)]
    if kind == "attribute":  # exactly one of the class has the asked colour
        same_colours = [target_colour] + [str(rng.choice([c for c in colours if c != target_colour])) for _ in range(n_same - 1)]
    if kind in ("spatial-attribute", "all-attribute"):  # two of the asked colour, at least one of another
        same_colours = [target_colour, target_colour] + [str(rng.choice([c for c in colours if c != target_colour]))
                                                         for _ in range(n_same - 2)]  # fmt: skip
    radii = [radius() for _ in range(n_same)]
    if kind == "size":
        radii[0] = radii[0] * 1.35 if rng.random() < 0.5 else radii[0] / 1.35
    specs = [(cls, c, r) for c, r in zip(same_colours, radii)]
    specs += [(str(rng.choice(others)), str(rng.choice(colours)), radius()) for _ in range(int(rng.integers(1, 4)))]
    placed = _place(rng, size, specs, [])
    if placed is None:
        return None
    same = list(range(n_same))
    shapes = tuple(placed)
    return _express(rng, shapes, same, kind, cls, target_colour, size)


def _express(rng: np.random.Generator, shapes: tuple[Shape, ...], same: list[int], kind: str, cls: str,
             colour: str, size: int) -> Scene | None:  # fmt: skip
    """The expression for ``kind`` and its targets, or None when this layout leaves it ambiguous."""
    plural = cls + "s"
    if kind == "plain":
        return Scene(shapes, (same[0],), f"the {cls}", kind)
    if kind == "attribute":
        return Scene(shapes, (same[0],), f"the {colour} {cls}", kind)
    if kind == "all":
        return Scene(shapes, tuple(same), f"all the {plural}", kind)
    if kind == "all-attribute":
        chosen = tuple(i for i in same if shapes[i].colour == colour)
        return Scene(shapes, chosen, f"all the {colour} {plural}", kind)
    if kind == "size":  # the asked extreme must be clearly bigger / smaller than the next (radius ratio >= 1.2)
        big = rng.random() < 0.5
        order = sorted(same, key=lambda i: -shapes[i].r if big else shapes[i].r)
        if abs(shapes[order[0]].r / shapes[order[1]].r - 1) < 0.2:
            return None
        return Scene(shapes, (order[0],), f"the {'biggest' if big else 'smallest'} {cls}", kind)
    side = str(rng.choice(list(SIDES)))
    key = _axis(side)
    pool = [i for i in same if kind != "spatial-attribute" or shapes[i].colour == colour]
    positions = [shapes[i].cx if side in ("left", "right") else shapes[i].cy for i in pool]
    if not _separated(positions, GAP * size):
        return None
    order = sorted(pool, key=lambda i: key(shapes[i]))
    if kind == "ordinal":
        side = "left" if side in ("left", "top") else "right"
        key = _axis(side)
        if not _separated([shapes[i].cx for i in same], GAP * size):
            return None
        order = sorted(same, key=lambda i: key(shapes[i]))
        k = int(rng.integers(2, min(3, len(order)) + 1))
        return Scene(shapes, (order[k - 1],), f"the {ORDINALS[k]} {cls} from the {side}", kind)
    words = f"the {colour} {cls}" if kind == "spatial-attribute" else f"the {cls}"
    return Scene(shapes, (order[0],), f"{words} {SIDES[side]}", kind)


def make_scene(rng: np.random.Generator, size: int, kind: str) -> Scene:
    for _ in range(500):
        scene = _attempt(rng, size, kind)
        if scene is not None:
            return scene
    raise BadInput(f"could not lay out a {kind!r} scene at {size}x{size}; use a larger --size")  # pragma: no cover


# --------------------------------------------------------------------------- detections and files
def noisy_detections(rng: np.random.Generator, boxes: list[tuple[float, float, float, float]], classes: list[str],
                     opts: SynthOptions) -> list[dict[str, object]]:  # fmt: skip
    """The noisy oracle's detections for a scene's true boxes (see the module docstring)."""
    size = opts.size
    out: list[dict[str, object]] = []
    for box, cls in zip(boxes, classes):
        if rng.random() < opts.miss:
            continue
        w, h = box[2] - box[0], box[3] - box[1]
        j = rng.normal(0, opts.jitter, 4) * np.array([w, h, w, h])
        x0, y0, x1, y1 = np.array(box) + j
        x0, y0 = max(0.0, min(x0, x1 - 2)), max(0.0, min(y0, y1 - 2))
        x1, y1 = min(float(size), max(x1, x0 + 2)), min(float(size), max(y1, y0 + 2))
        score = float(np.clip(rng.normal(0.75, 0.1), 0.35, 0.99))
        out.append({"box": [round(float(v), 2) for v in (x0, y0, x1, y1)], "score": round(score, 3), "label": cls})
    for _ in range(int(rng.poisson(opts.spurious))):
        w, h = rng.uniform(0.08, 0.25, 2) * size
        x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
        out.append({"box": [round(float(v), 2) for v in (x0, y0, x0 + w, y0 + h)],
                    "score": round(float(rng.uniform(0.30, 0.60)), 3), "label": str(rng.choice(CLASSES))})  # fmt: skip
    rng.shuffle(out)  # type: ignore[arg-type]
    return out


def generate(out: Path, opts: SynthOptions, progress: Callable[[int], None] | None = None) -> Path:
    """Write the benchmark to ``out`` (which must not exist or be empty); returns the manifest's path."""
    from refedit.core.masks import mask_box

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"{out} already exists and is not an empty folder; choose another OUT or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        for sub in ("images", "masks", "detections"):
            (tmp / sub).mkdir()
        rng = np.random.default_rng(opts.seed)
        rows = []
        for i in range(opts.n):
            rows.append(_write_scene(tmp, i, rng, opts, mask_box))
            if progress:
                progress(i + 1)
        (tmp / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        (tmp / "synth.json").write_text(json.dumps({"generator": "refedit eval synth", **asdict(opts)}, indent=2) + "\n")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "manifest.jsonl"


def _write_scene(folder: Path, i: int, rng: np.random.Generator, opts: SynthOptions, mask_box: Callable) -> dict:  # type: ignore[type-arg]
    kind = KINDS[i % len(KINDS)]
    scene = make_scene(rng, opts.size, kind)
    img = Image.fromarray(background(rng, opts.size))
    pen = ImageDraw.Draw(img)
    for s in scene.shapes:
        draw(pen, s, COLOURS[s.colour])
    masks = [_mask(s, opts.size) for s in scene.shapes]
    boxes = [tuple(float(v) for v in mask_box(m)) for m in masks]
    target = np.zeros((opts.size, opts.size), dtype=bool)
    for t in scene.targets:
        target |= masks[t]
    name = f"scene_{i:05d}"
    img.save(folder / "images" / f"{name}.png")
    Image.fromarray(target.astype(np.uint8) * 255, mode="L").save(folder / "masks" / f"{name}.png")
    dets = noisy_detections(rng, boxes, [s.cls for s in scene.shapes], opts)  # type: ignore[arg-type]
    (folder / "detections" / f"{name}.json").write_text(json.dumps(dets))
    row = {"id": name, "image": f"images/{name}.png", "expression": scene.expression, "mask": f"masks/{name}.png",
           "boxes": [list(boxes[t]) for t in scene.targets], "detections": f"detections/{name}.json",
           "category": scene.kind}  # fmt: skip
    if len(scene.targets) == 1:
        row["box"] = list(boxes[scene.targets[0]])
    return row
