"""The page's logic as plain functions, testable without a browser or Gradio: the uploaded image (the CLI's loader
and messages), the plan's editable fields, hints from a click or a drawing, the candidate overlay, the options
of one job, and the files one edit writes. Images are RGB PIL images; boxes xyxy pixels; points (x, y) pixels."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from refedit.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from refedit.pipeline.artifacts import Ambiguity, Candidate, EditPlan, EditResult, Hints, Segmentation
    from refedit.pipeline.imageio import LoadedImage

#: the plan fields the page shows, in order (``target_*`` are the target's; the rest the plan's)
PLAN_FIELDS = ("action", "target_expression", "target_head", "target_attributes", "target_spatial", "target_ordinal",
               "target_size", "target_all", "target_count", "replacement", "segmentation_prompt", "source_caption",
               "edited_caption")  # fmt: skip
#: what the page sends for an unset choice (Gradio dropdowns and numbers)
UNSET = ("", None, "(none)", 0)
#: page values an editor may take, each only when the chosen editor's options declare it
EDIT_CONTROLS = ("steps", "encode_ratio", "encode_ratios")


# --------------------------------------------------------------------------- the image
def load_upload(path: str | Path | None) -> "LoadedImage":
    """The uploaded file decoded as the CLI decodes an input (EXIF orientation, modes, the size limit), with the
    CLI's messages naming the file as the user named it. :class:`BadInput` when there is none or it is no image."""
    from refedit.pipeline.imageio import load_image_bytes

    if path is None or not str(path):
        raise BadInput("no image: upload one first")
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"image {path.name} does not exist")
    return load_image_bytes(path.read_bytes(), label=path.name)


# --------------------------------------------------------------------------- the plan
def plan_to_fields(plan: "EditPlan") -> dict[str, Any]:
    """The page's field values for ``plan`` (see :data:`PLAN_FIELDS`)."""
    t = plan.target
    return {"action": plan.action, "target_expression": t.expression, "target_head": t.head,
            "target_attributes": ", ".join(t.attributes), "target_spatial": t.spatial or "(none)",
            "target_ordinal": t.ordinal or 0, "target_size": t.size or "(none)", "target_all": t.all,
            "target_count": t.count or 0, "replacement": plan.replacement or "", "segmentation_prompt": plan.segmentation_prompt,
            "source_caption": plan.source_caption, "edited_caption": plan.edited_caption}  # fmt: skip


def is_unset(value: Any) -> bool:
    """A page value that says nothing: blank, "(none)", a 0 number."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "(none)")) or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0)  # fmt: skip


def plan_from_fields(plan: "EditPlan", values: Mapping[str, Any]) -> "EditPlan":
    """``plan`` with the edited field ``values`` (names of :data:`PLAN_FIELDS`; missing ones keep the plan's);
    :class:`BadInput` naming what is wrong when the result is not a valid plan."""
    def get(name: str, current: Any) -> Any:
        return values[name] if name in values else current

    t = plan.target
    attrs = get("target_attributes", t.attributes)
    if isinstance(attrs, str):
        attrs = tuple(a.strip() for a in attrs.split(",") if a.strip())
    ordinal, count = get("target_ordinal", t.ordinal), get("target_count", t.count)
    try:
        target = replace(t, expression=str(get("target_expression", t.expression)).strip() or t.expression,
                         head=str(get("target_head", t.head)).strip(), attributes=tuple(attrs),
                         spatial=None if is_unset(s := get("target_spatial", t.spatial)) else s,
                         ordinal=None if is_unset(ordinal) else int(ordinal),
                         size=None if is_unset(z := get("target_size", t.size)) else z,
                         all=bool(get("target_all", t.all)) or not is_unset(count),
                         count=None if is_unset(count) else int(count))  # fmt: skip
        repl = get("replacement", plan.replacement)
        return replace(plan, action=get("action", plan.action), target=target,
                       replacement=None if is_unset(repl) else str(repl).strip(),
                       segmentation_prompt=str(get("segmentation_prompt", plan.segmentation_prompt)).strip(),
                       source_caption=str(get("source_caption", plan.source_caption)).strip(),
                       edited_caption=str(get("edited_caption", plan.edited_caption)).strip())  # fmt: skip
    except (ValueError, TypeError) as err:
        raise BadInput(f"the plan is not valid: {err}") from None


# --------------------------------------------------------------------------- hints
def drawn_mask(layers: Sequence[Any] | None, size: tuple[int, int]) -> np.ndarray | None:
    """The union of the drawn strokes of an image editor's ``layers`` (arrays or PIL images; a pixel counts where
    its alpha is above 0) as an HxW bool mask at the image ``size`` (W, H); None when nothing is drawn."""
    w, h = size
    out = np.zeros((h, w), dtype=bool)
    for layer in layers or ():
        if layer is None:
            continue
        im = layer if isinstance(layer, Image.Image) else Image.fromarray(np.asarray(layer))
        alpha = im.getchannel("A") if "A" in im.getbands() else im.convert("L")
        if alpha.size != (w, h):
            alpha = alpha.resize((w, h), Image.Resampling.NEAREST)
        out |= np.asarray(alpha) > 0
    return out if out.any() else None


def page_hints(size: tuple[int, int], *, points: Sequence[Sequence[float]] = (), layers: Sequence[Any] | None = None,
               as_box: bool = False) -> "Hints":  # fmt: skip
    """:class:`Hints` from the page: clicked ``points`` and the strokes drawn in the hint editor, as a free-shape
    hint mask (FlexEdit) or, with ``as_box``, as the box around them; checked against the image like the CLI's."""
    from refedit.core.masks import mask_box
    from refedit.pipeline.artifacts import Hints

    w, h = size
    for p in points:
        if not (0 <= p[0] < w and 0 <= p[1] < h):
            raise BadInput(f"point {p[0]:g},{p[1]:g} is outside the {w}x{h} image")
    drawn = drawn_mask(layers, size)
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    if drawn is not None and as_box:
        x0, y0, x1, y1 = mask_box(drawn)  # type: ignore[misc]
        boxes, drawn = ((float(x0), float(y0), float(x1), float(y1)),), None
    return Hints(boxes=boxes, points=tuple((float(x), float(y)) for x, y in points), hint_mask=drawn)


def candidate_at(candidates: Sequence["Candidate"], point: Sequence[float]) -> int | None:
    """The 1-based number of the candidate a click at ``point`` picks (the segmenter's rule for a point hint: the
    smallest box containing it), or None when it hits none (the click then prompts SAM itself)."""
    from refedit.pipeline.segment.hints import pick_by_point

    i = pick_by_point(candidates, (float(point[0]), float(point[1])))
    return None if i is None else i + 1


# --------------------------------------------------------------------------- figures and text
CHOSEN = (255, 255, 255)


def candidate_overlay(image: Image.Image, seg: "Segmentation") -> Image.Image:
    """The image with the mask tinted, every candidate outlined and numbered 1.. in ``seg.candidates`` order, and
    the chosen ones marked by a second, white outline around theirs."""
    from refedit.core.figures import mask_overlay, numbered_candidates

    base = mask_overlay(image, seg.mask)
    out = numbered_candidates(base, [c.box for c in seg.candidates])
    draw = ImageDraw.Draw(out)
    width = max(2, min(out.size) // 150)
    for i in seg.chosen:
        x0, y0, x1, y1 = seg.candidates[i].box
        draw.rectangle((x0 - width, y0 - width, x1 + width, y1 + width), outline=CHOSEN, width=width)
    return out


def ambiguity_overlay(image: Image.Image, amb: "Ambiguity") -> Image.Image:
    """The numbered candidates of an ambiguous instruction, as the CLI's ``*_candidates.png`` draws them."""
    from refedit.core.figures import numbered_candidates

    return numbered_candidates(image, [c.box for c in amb.candidates], [c.mask for c in amb.candidates])


def _box_text(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in box) + "]"


def segmentation_text(seg: "Segmentation") -> str:
    """Markdown: the reason, then one line per candidate (number, label, score, box), the chosen ones marked."""
    lines = [f"**Chosen:** {seg.reason or '(no reason given)'}", ""]
    for n, c in enumerate(seg.candidates, 1):
        mark = " ← **chosen**" if n - 1 in seg.chosen else ""
        lines.append(f"- {n}: {c.label or '?'} score {c.score:.2f} box {_box_text(c.box)}{mark}")
    return "\n".join(lines)


def ambiguity_text(amb: "Ambiguity", message: str) -> str:
    """Markdown: why the instruction is ambiguous and the numbered candidates; click one to choose."""
    lines = [f"**Ambiguous:** {message}", "", "**Click a numbered candidate in the image to choose it.**", ""]
    for n, (c, why) in enumerate(zip(amb.candidates, amb.whys, strict=True), 1):
        lines.append(f"- {n}: {c.label or '?'} score {c.score:.2f} box {_box_text(c.box)} - {why}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- one job's options
def editor_controls(editor: str) -> set[str]:
    """Which of :data:`EDIT_CONTROLS` ``editor`` takes (all of them for a plugin that declares no options)."""
    from refedit.pipeline.stages import registry

    spec = registry.get("editor", editor).spec
    return set(EDIT_CONTROLS) if spec is None else set(EDIT_CONTROLS) & set(spec.types())


def job_options(base: Mapping[str, Any], stages: Mapping[str, str], page: Mapping[str, Any]) -> dict[str, Any]:
    """The stage options of one job: the server's (from its command line) that the chosen ``stages`` understand,
    overridden by the ``page``'s :data:`EDIT_CONTROLS` the editor takes; typed and range-checked by the stages
    (:class:`BadInput` in their words). Several ratios ("0.3,0.5,0.7") make a sweep."""
    from refedit.pipeline.stages import check_options, registry

    known: set[str] | None = set()
    for kind, name in stages.items():
        spec = registry.get(kind, name).spec
        if spec is None:
            known = None
            break
        known |= set(spec.types())  # type: ignore[operator]
    options = {k: v for k, v in base.items() if v is not None and (known is None or k in known)}
    takes = editor_controls(stages["editor"])
    for name in EDIT_CONTROLS:
        value = page.get(name)
        if name in takes and not (value is None or (isinstance(value, str) and not value.strip())):
            options[name] = value.strip() if isinstance(value, str) else value
    ratios = options.get("encode_ratios")
    if isinstance(ratios, str) and "," not in ratios and ":" not in ratios:  # one ratio typed in the sweep box
        options["encode_ratio"], options["encode_ratios"] = ratios, None
    elif ratios is not None:
        options.pop("encode_ratio", None)
    return check_options({k: v for k, v in options.items() if v is not None}, stages)


# --------------------------------------------------------------------------- one edit's files
@dataclass(frozen=True)
class ResultFiles:
    """What one edit wrote: the result ``image`` (the input's size), the ``mask`` PNG, the JSON ``record``, and
    one file per variant of a sweep (empty otherwise), all in one folder."""

    image: Path
    mask: Path
    record: Path
    variants: tuple[Path, ...] = ()

    def all(self) -> list[Path]:
        return [self.image, self.mask, self.record, *self.variants]


def write_result(result: "EditResult", source: "LoadedImage", folder: Path, stem: str, *, instruction: str,
                 seed: int) -> ResultFiles:  # fmt: skip
    """Write ``result`` as the CLI does (image with its ``refedit`` PNG chunk, alpha put back; mask PNG; the
    ``--json`` record), atomically, in ``folder`` under ``stem``."""
    from refedit.core.files import atomic_write_text
    from refedit.outputs import edit_metadata, variant_path
    from refedit.pipeline.imageio import save_image, save_mask

    folder.mkdir(parents=True, exist_ok=True)
    meta = edit_metadata(instruction, seed, result)
    image = save_image(result.image, folder / f"{stem}.png", source=source, metadata=meta)
    variants = tuple(save_image(v.image, variant_path(image, v.label), source=source, metadata=meta)
                     for v in result.variants)  # fmt: skip
    mask = save_mask(result.segmentation.mask, folder / f"{stem}_mask.png")
    record = result.to_dict(image_path=image.name, variant_paths=[p.name for p in variants] if variants else None)
    record.update(instruction=instruction, seed=seed, mask_path=mask.name)
    path = atomic_write_text(folder / f"{stem}.json", json.dumps(record, indent=2))
    return ResultFiles(image=Path(image), mask=Path(mask), record=path, variants=tuple(Path(p) for p in variants))


@dataclass(frozen=True)
class HistoryEntry:
    """One edit of the session: its result image and a caption (instruction, editor, seed, ratio)."""

    image: Path
    caption: str


def history_caption(instruction: str, editor: str, seed: int, parameters: Mapping[str, Any]) -> str:
    ratio = parameters.get("encode_ratio")
    extra = f", r={ratio}" if ratio is not None else ""
    return f"{instruction} ({editor}, seed {seed}{extra})"


def for_the_page(message: str) -> str:
    """An ambiguity message's command-line advice ("choose with --pick N (1-3, ...), --pick all or --pick best, or
    say which ...") put as the page offers it: click a numbered candidate, or say which."""
    head, sep, tail = message.partition("choose with --pick")
    if not sep:
        return message
    rest = tail.split(", or ", 1)[1] if ", or " in tail else ""
    rest = rest.replace(" with --point X,Y", "").replace("point at the target", "click the target")
    return f"{head}click a numbered candidate to choose it" + (f", or {rest}" if rest else "")
