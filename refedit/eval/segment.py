"""``refedit eval segment``: the parser and a segmenter over a referring-segmentation set, one record per sample.

Each sample's expression goes through :meth:`Pipeline.segment_only` (the same chain ``refedit segment`` runs),
so the figures measure parser + resolver + masks end to end. A sample the chain cannot answer (unclear
expression, target not found, ambiguous) is a miss: its prediction is empty, IoU 0, its ground truth still
counts in oIoU's union. A model that cannot be loaded stops the run (every later sample would fail alike).
Samples with their own ``detections`` file get a segmenter with those detections (one model store shared)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from refedit.errors import ModelUnavailable, RefEditError
from refedit.eval.metrics.masks import overlap
from refedit.eval.samples import Box, Sample

#: how well a chosen box must cover a target instance's box to count as picking it
BOX_MATCH_IOU = 0.5


def reference_kinds(target: Any) -> tuple[str, ...]:
    """The kinds of reference a parsed :class:`Target` uses (several may apply; "plain" when none does)."""
    kinds = [name for name, used in (("spatial", target.spatial is not None), ("ordinal", target.ordinal is not None),
                                     ("size", target.size is not None), ("attribute", bool(target.attributes)),
                                     ("all", target.all),
                                     ("relation", any((target.relation, target.pronoun, target.region))))
             if used]  # fmt: skip
    return tuple(kinds) or ("plain",)


def boxes_match(chosen: Sequence[Box], truth: Sequence[Box], threshold: float = BOX_MATCH_IOU) -> bool:
    """Whether the chosen boxes are exactly the target instances: a one-to-one greedy matching (largest IoU first)
    pairs every chosen box with a distinct true box at IoU >= ``threshold`` and leaves none over."""
    from refedit.core.geometry import box_iou

    if len(chosen) != len(truth):
        return False
    pairs = sorted(((box_iou(c, t), i, j) for i, c in enumerate(chosen) for j, t in enumerate(truth)), reverse=True)
    used_c: set[int] = set()
    used_t: set[int] = set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in used_c and j not in used_t:
            used_c.add(i)
            used_t.add(j)
    return len(used_c) == len(truth)


@dataclass
class SegmentRunner:
    """Runs the chosen parser and segmenter over samples with one shared :class:`ModelStore`."""

    settings: Any
    parser: str
    segmenter: str
    options: Mapping[str, Any] = field(default_factory=dict)
    use_detections: bool = True
    store: Any = None
    _pipes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from refedit.pipeline.models import ModelStore

        self.store = self.store or ModelStore(self.settings)

    def pipeline(self, detections: Path | None) -> Any:
        """The pipeline for a sample's detections file (built once per file; no weight loads here)."""
        from refedit.pipeline.chain import Pipeline

        key = str(detections) if detections else ""
        if key not in self._pipes:
            options = dict(self.options)
            if detections is not None:
                options["detections"] = detections
            pipe = Pipeline.build(self.settings, parser=self.parser, segmenter=self.segmenter, options=options,
                                  store=self.store, check=False)  # fmt: skip
            if not self._pipes:
                self._check(pipe, options)
            self._pipes[key] = pipe
        return self._pipes[key]

    def _check(self, pipe: Any, options: Mapping[str, Any]) -> None:
        """The parser's and segmenter's checkpoint types and preflights (the editor is never built or checked)."""
        from refedit.pipeline.stages import model_roles

        self.store.check_types(model_roles({"parser": self.parser, "segmenter": self.segmenter}, options))
        for stage in (pipe.parser, pipe.segmenter):
            preflight = getattr(stage, "check", None)
            if callable(preflight):
                preflight()

    def run(self, sample: Sample) -> tuple[dict[str, Any], np.ndarray]:
        """The sample's record and predicted mask (empty when the chain found nothing)."""
        from refedit.pipeline.artifacts import EditRequest, Hints
        from refedit.pipeline.imageio import load_image

        start = time.perf_counter()
        source = load_image(sample.image)
        truth = sample.truth(source.rgb.size)
        assert truth is not None  # check_samples(need_mask=True) ran first
        record: dict[str, Any] = {"key": sample.id, "id": sample.id, "text": sample.text, "category": sample.category}
        pred = np.zeros_like(truth)
        try:
            detections = sample.detections if self.use_detections and "detections" not in self.options else None
            pipe = self.pipeline(detections)
            plan, seg = pipe.segment_only(EditRequest(source.rgb, sample.text, Hints(), image_path=str(sample.image)))
            pred = seg.mask
            record.update(status="done", kinds=list(reference_kinds(plan.target)), reason=seg.reason,
                          chosen_boxes=[list(seg.candidates[i].box) for i in seg.chosen])  # fmt: skip
            if sample.boxes and seg.candidates:
                record["box_correct"] = boxes_match([seg.candidates[i].box for i in seg.chosen], sample.boxes)
        except ModelUnavailable:
            raise
        except Exception as err:  # noqa: BLE001 - a sample's failure is a miss, recorded, and the run goes on
            from refedit.batch import failure

            record.update(failure(err))
            record.setdefault("kinds", self._kinds_of(sample))
            if sample.boxes:
                record["box_correct"] = False
            if not isinstance(err, RefEditError):
                record["bug"] = True
        ov = overlap(pred, truth)
        record.update(intersection=ov.intersection, union=ov.union, iou=ov.iou,
                      seconds=round(time.perf_counter() - start, 4))  # fmt: skip
        return record, pred

    def _kinds_of(self, sample: Sample) -> list[str]:
        """The kinds of a sample that failed: from the parse alone when it parses, else "unparsed"."""
        try:
            from refedit.pipeline.parse.segmenting import segmentation_plan

            pipe = self.pipeline(None)
            return list(reference_kinds(segmentation_plan(pipe.parser, sample.text).target))
        except Exception:  # noqa: BLE001
            return ["unparsed"]


def run_all(runner: SegmentRunner, samples: Sequence[Sample], log: Any, done: Mapping[str, Any], *,
            masks_dir: Path | None = None, on_record: Callable[[dict[str, Any]], None] | None = None) -> int:  # fmt: skip
    """Run every sample not in ``done`` (a rerun resumes), writing each record as it finishes; the number run."""
    from refedit.pipeline.imageio import save_mask

    n = 0
    for sample in samples:
        if sample.id in done:
            continue
        record, pred = runner.run(sample)
        if masks_dir is not None:
            masks_dir.mkdir(parents=True, exist_ok=True)
            record["mask"] = str(save_mask(pred, masks_dir / f"{safe_name(sample.id)}.png"))
        log.write(record)
        n += 1
        if on_record:
            on_record(record)
    return n


def safe_name(sample_id: str) -> str:
    """A file name for a sample id (path separators and odd characters replaced)."""
    keep = "".join(c if c.isalnum() or c in "-_.=@" else "_" for c in sample_id)
    return keep.strip(".") or "sample"
