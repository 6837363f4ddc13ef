"""Stage contracts (``typing.Protocol``) and the registry of stage implementations.

Implementations are *lazy factories* ``factory(context: StageContext) -> stage`` registered under the
entry-point groups ``refedit.parsers``, ``refedit.segmenters`` and ``refedit.editors``. The built-ins
register through the very same groups (see ``setup.cfg``), so a plugin is a first-class citizen. A
factory's docstring's first line is the stage's description; factories live in light modules that do
not import torch, so listing stages loads no weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Protocol, TypeVar, runtime_checkable

from refedit.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from refedit.config import Settings
    from refedit.pipeline.artifacts import EditPlan, EditResult, Hints, Segmentation
    from refedit.pipeline.models import ModelStore

Progress = Callable[[str, int, int], None]
Kind = Literal["parser", "segmenter", "editor"]
GROUPS: Mapping[str, str] = {"parser": "refedit.parsers", "segmenter": "refedit.segmenters", "editor": "refedit.editors"}
DEFAULTS: Mapping[str, str] = {"parser": "rules", "segmenter": "grounded-sam", "editor": "diffedit"}


@runtime_checkable
class Parser(Protocol):
    """Turns an instruction into an :class:`EditPlan`."""

    def parse(self, *, instruction: str, image: "Image.Image | None" = None) -> "EditPlan": ...


@runtime_checkable
class Segmenter(Protocol):
    """Finds the plan's target in the image and returns its mask."""

    def segment(self, *, image: "Image.Image", plan: "EditPlan", hints: "Hints") -> "Segmentation": ...


@runtime_checkable
class Editor(Protocol):
    """Edits the masked region of the image as the plan says."""

    def edit(
        self, *, image: "Image.Image", plan: "EditPlan", segmentation: "Segmentation", seed: int
    ) -> "EditResult": ...


@dataclass
class StageContext:
    """What a factory gets: the settings, the shared model store, and the stage options given by the user
    (e.g. ``steps``, ``encode_ratio``); each stage validates the options it understands into its own typed
    options dataclass."""

    settings: "Settings"
    store: "ModelStore"
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: "Progress | None" = None


Factory = Callable[[StageContext], Any]
_O = TypeVar("_O", bound="StageOptions")


class StageOptions:
    """Mixin for a stage's frozen options dataclass: build it from the user's option mapping, taking the
    names it declares (others belong to other stages) and treating ``None`` as "use the default"."""

    @classmethod
    def from_mapping(cls: type[_O], options: Mapping[str, Any]) -> _O:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in options.items() if k in names and v is not None})


@dataclass(frozen=True)
class StageEntry:
    """One registered implementation; ``load()`` imports its factory (never a model)."""

    kind: str
    name: str
    source: str
    _load: Callable[[], Factory]

    def load(self) -> Factory:
        return self._load()

    @property
    def description(self) -> str:
        doc = (self.load().__doc__ or "").strip()
        return doc.splitlines()[0] if doc else "(no description)"


class Registry:
    """All stage implementations, from entry points plus any registered in-process."""

    def __init__(self) -> None:
        self._extra: dict[tuple[str, str], StageEntry] = {}

    def _check_kind(self, kind: str) -> None:
        if kind not in GROUPS:
            raise BadInput(f"unknown stage kind {kind!r}; kinds are {', '.join(GROUPS)}")

    def entries(self, kind: str) -> dict[str, StageEntry]:
        """Name -> entry for ``kind``, sorted by name; in-process registrations win over entry points."""
        self._check_kind(kind)
        found: dict[str, StageEntry] = {}
        for ep in entry_points(group=GROUPS[kind]):
            source = ep.dist.name if ep.dist is not None else ep.module
            found[ep.name] = StageEntry(kind, ep.name, source, ep.load)
        for (k, name), entry in self._extra.items():
            if k == kind:
                found[name] = entry
        return dict(sorted(found.items()))

    def get(self, kind: str, name: str) -> StageEntry:
        entries = self.entries(kind)
        if name not in entries:
            raise BadInput(f"unknown {kind} {name!r}; choose from {', '.join(entries) or '(none installed)'}")
        return entries[name]

    def create(self, kind: str, name: str, context: StageContext) -> Any:
        """Build the stage ``name`` of ``kind`` (models are still loaded lazily by the stage)."""
        return self.get(kind, name).load()(context)

    def register(self, kind: str, name: str, factory: Factory) -> None:
        """Register a factory in this process (tests, notebooks); same contract as an entry point."""
        self._check_kind(kind)
        self._extra[(kind, name)] = StageEntry(kind, name, "runtime", lambda: factory)

    def unregister(self, kind: str, name: str) -> None:
        self._extra.pop((kind, name), None)


#: The process-wide registry.
registry = Registry()
