"""The server behind the page, without Gradio: one :class:`ModelStore` for every job, one job at a time on the
device (a lock, beneath Gradio's queue), progress from the stages' callback, and cancelling a running job at its
next progress step. Each job builds a :class:`Pipeline` over the shared store (milliseconds, no weight loaded:
the store keeps what earlier jobs loaded) with the stage options of that job."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from refedit.errors import INTERRUPTED_EXIT_CODE, RefEditError
from refedit.serve.session import job_options

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from refedit.config import Settings
    from refedit.pipeline.artifacts import AmbiguousTarget, EditPlan, EditResult, Hints, Segmentation
    from refedit.pipeline.chain import Pipeline

Report = Callable[[str, int, int], None]


class Cancelled(RefEditError):
    """The user cancelled the running job (it stops at its next progress step)."""

    exit_code = INTERRUPTED_EXIT_CODE


@dataclass(frozen=True)
class JobRecord:
    """When one job held the device: ``kind`` (parse, find, edit), the ``session`` that asked, wall-clock
    ``start``/``end`` (``time.monotonic``) and whether it ``ok`` finished."""

    kind: str
    session: str
    start: float
    end: float
    ok: bool


@dataclass(frozen=True)
class Found:
    """What Find gives: the ``plan`` used, and the ``segmentation``, or the ``ambiguous`` stop (its candidates)."""

    plan: "EditPlan"
    segmentation: "Segmentation | None"
    ambiguous: "AmbiguousTarget | None" = None


@dataclass
class EditServer:
    """Runs the page's jobs on one shared model store; ``jobs`` records each job's time on the device."""

    settings: "Settings"
    parser: str
    segmenter: str
    editor: str
    options: Mapping[str, Any] = field(default_factory=dict)
    store: Any = None
    jobs: list[JobRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        from refedit.pipeline.models import ModelStore

        self.store = self.store or ModelStore(self.settings)
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._running: str | None = None

    # ------------------------------------------------------------------ jobs
    @contextlib.contextmanager
    def job(self, kind: str, session: str, report: Report | None = None) -> Iterator[Report]:
        """Hold the device for one job; yields the progress callback to give the stages, which reports to
        ``report`` and raises :class:`Cancelled` once :meth:`cancel` was called for this session."""
        with self._lock:
            self._cancel.clear()
            self._running = session
            start, ok = time.monotonic(), False

            def progress(task: str, done: int, total: int) -> None:
                if self._cancel.is_set():
                    raise Cancelled(f"stopped during {task} at step {done}/{total}")
                if report is not None:
                    report(task, done, total)

            try:
                yield progress
                ok = True
            finally:
                self._running = None
                self.jobs.append(JobRecord(kind, session, start, time.monotonic(), ok))

    @property
    def running(self) -> str | None:
        """The session whose job holds the device now, or None."""
        return self._running

    def cancel(self, session: str) -> bool:
        """Stop ``session``'s running job at its next progress step; False when it runs none."""
        if self._running is None or self._running != session:
            return False
        self._cancel.set()
        return True

    def pipeline(self, progress: Report | None, page: Mapping[str, Any] | None = None,
                 editor: str | None = None) -> "Pipeline":  # fmt: skip
        """A pipeline over the shared store with this job's options (the server's, then the ``page``'s)."""
        from refedit.pipeline.chain import Pipeline

        stages = {"parser": self.parser, "segmenter": self.segmenter, "editor": editor or self.editor}
        options = job_options(self.options, stages, page or {})
        return Pipeline.build(self.store.settings, **stages, options=options, store=self.store, progress=progress)

    # ------------------------------------------------------------------ the three buttons
    def parse(self, image: "Image.Image", instruction: str, *, session: str = "", report: Report | None = None
              ) -> "EditPlan":  # fmt: skip
        """The parser's plan of ``instruction`` (:class:`UnclearInstruction` when it names nothing)."""
        from refedit.pipeline.artifacts import EditRequest

        request = EditRequest(image=image, instruction=_instruction(instruction))
        with self.job("parse", session, report) as progress:
            return self.pipeline(progress).plan(request)

    def find(self, image: "Image.Image", instruction: str, plan: "EditPlan | None", hints: "Hints", *,
             session: str = "", report: Report | None = None) -> "Found":  # fmt: skip
        """The plan (the given one, else parsed as ``refedit segment`` does: an instruction, a bare referring
        expression, or nothing when hints choose) and the segmentation, or the ambiguity that stopped it."""
        from refedit.pipeline.artifacts import AmbiguousTarget, EditRequest
        from refedit.pipeline.parse.segmenting import segmentation_plan

        request = EditRequest(image=image, instruction=instruction or "", hints=hints, plan=plan)
        with self.job("find", session, report) as progress:
            pipe = self.pipeline(progress)
            plan = plan or segmentation_plan(pipe.parser, request.instruction, image=image, hinted=not hints.empty)
            try:
                return Found(plan, pipe.segment(request, plan))
            except AmbiguousTarget as err:
                return Found(plan, None, err)

    def edit(self, image: "Image.Image", instruction: str, plan: "EditPlan | None", hints: "Hints", *, seed: int,
             editor: str | None = None, page: Mapping[str, Any] | None = None, session: str = "",
             report: Report | None = None) -> "EditResult":  # fmt: skip
        """The whole chain, as ``refedit edit`` runs it, with the page's editor and options."""
        from refedit.config import check_seed
        from refedit.pipeline.artifacts import EditRequest

        request = EditRequest(image=image, instruction=_instruction(instruction) if plan is None else instruction,
                              hints=hints, seed=check_seed(seed), plan=plan)  # fmt: skip
        with self.job("edit", session, report) as progress:
            return self.pipeline(progress, page, editor).run(request)


def _instruction(text: str | None) -> str:
    from refedit.errors import BadInput

    if not text or not text.strip():
        raise BadInput("the instruction is empty; say what to change, e.g. 'replace the cat with a tiger'")
    return text
