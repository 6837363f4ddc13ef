"""Stage contracts (``typing.Protocol``) and the registry of stage implementations.

Implementations are *lazy factories* ``factory(context: StageContext) -> stage`` registered under the
entry-point groups ``refedit.parsers``, ``refedit.segmenters`` and ``refedit.editors``. The built-ins
register through the very same groups (see ``setup.cfg``), so a plugin is a first-class citizen. A
factory's docstring's first line is the stage's description; factories live in light modules that do
not import torch, so listing stages loads no weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import warnings
from functools import cache
from importlib.metadata import entry_points
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Literal,
    Mapping,
    Protocol,
    Sequence,
    TypeVar,
    get_type_hints,
    runtime_checkable,
)

from refedit.config import Range, close_matches, loose, typed
from refedit.errors import BadInput, ModelUnavailable, RefEditWarning

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from refedit.config import Settings
    from refedit.pipeline.artifacts import EditPlan, EditResult, Hints, Segmentation
    from refedit.pipeline.models import ModelStore

#: ``progress(task, done, total)``: an editor reports ``done=0`` when a phase ("invert", "edit") starts, then
#: each step as it completes, so a reporter's clock counts the first step too
Progress = Callable[[str, int, int], None]
Kind = Literal["parser", "segmenter", "editor"]
GROUPS: Mapping[str, str] = {"parser": "refedit.parsers", "segmenter": "refedit.segmenters", "editor": "refedit.editors"}
DEFAULTS: Mapping[str, str] = {"parser": "rules", "segmenter": "grounded-sam", "editor": "diffedit"}
#: where additions go when no editor was named (DiffEdit cannot create an object in an empty region)
ADDING_EDITOR = "inpaint"


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


def option(default: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False) -> Any:
    """A field of a stage's options dataclass whose numbers must lie in ``lo``..``hi`` (``lo`` excluded when
    ``lo_open``)."""
    return field(default=default, metadata={"range": Range(lo, hi, lo_open)})


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


class StageOptions:
    """Mixin for a stage's frozen options dataclass. Every field is checked against its type and its
    :func:`option` range when the dataclass is built (strings from the shell or a CSV are parsed), so a bad
    value is one :class:`BadInput` line naming it and what is accepted; subclasses add cross-field checks
    in ``__post_init__`` after calling ``super().__post_init__()``. :meth:`from_mapping` builds it from the
    user's option mapping, taking the names it declares (others belong to other stages) and treating
    ``None`` as "use the default"."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            checked = typed(f.name, value, _hints(type(self))[f.name], f.metadata.get("range"))
            if checked is not value:
                object.__setattr__(self, f.name, checked)

    @classmethod
    def option_types(cls) -> dict[str, Any]:
        """Option name -> its type, for every field."""
        hints = _hints(cls)
        return {f.name: hints[f.name] for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls: type[_O], options: Mapping[str, Any]) -> _O:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in options.items() if k in names and v is not None})


@dataclass(frozen=True)
class StageSpec:
    """What a registered stage takes, declared on its factory as ``factory.spec`` from light modules, so the
    options and the models of a run are checked before torch is imported or a weight is read.

    ``types()``: option name -> type of every option the stage understands; ``check(options)``: build the
    stage's options objects from the user's mapping (type and range checks; raises :class:`BadInput`);
    ``roles(options)``: the model roles the stage will load, each with a model id that overrides the role's
    configured one (e.g. ``--editor-model``) or ``None``; ``optional_roles``: roles loaded only when a request
    needs them (CLIP's attribute filter, for a target with attributes): not required up front, but a model flag
    naming one is not unused. A factory without a spec (a plugin that declares nothing) receives every option
    and is not checked up front."""

    types: Callable[[], Mapping[str, Any]]
    check: Callable[[Mapping[str, Any]], object] = lambda options: None
    roles: Callable[[Mapping[str, Any]], Mapping[str, str | None]] = lambda options: {}
    optional_roles: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *options: type[StageOptions], extra: Mapping[str, Any] | None = None,
           roles: Callable[[Mapping[str, Any]], Mapping[str, str | None]] | None = None,
           optional_roles: frozenset[str] = frozenset()) -> "StageSpec":  # fmt: skip
        """The spec of a stage configured by the ``options`` dataclasses plus ``extra`` name -> type."""

        def types() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for o in options:
                out.update(o.option_types())
            return {**out, **(extra or {})}

        def check(mapping: Mapping[str, Any]) -> None:
            for name, kind in (extra or {}).items():
                if mapping.get(name) is not None:
                    typed(name, mapping[name], kind)
            for o in options:
                o.from_mapping(mapping)

        return cls(types=types, check=check, roles=roles or (lambda o: {}), optional_roles=optional_roles)


@dataclass(frozen=True)
class StageEntry:
    """One registered implementation; ``load()`` imports its factory (never a model)."""

    kind: str
    name: str
    source: str
    _load: Callable[[], Factory]

    @property
    def origin(self) -> str:
        """Where the stage comes from, for messages: "from <distribution>" or "registered in this process"."""
        return "registered in this process" if self.source == "runtime" else f"from {self.source}"

    @property
    def whose_bug(self) -> str:
        """Who is to fix the stage's failure, for messages."""
        return "a bug of that stage's code" if self.source == "runtime" else "a bug of that plugin: report it to its authors"

    def load(self) -> Factory:
        """The factory; a plugin whose code cannot be imported is :class:`ModelUnavailable` naming it (exit 5)."""
        try:
            return self._load()
        except Exception as err:  # noqa: BLE001 - whatever a third party's import raises
            raise ModelUnavailable(f"the {self.kind} {self.name!r} from {self.source} cannot be loaded: "
                                   f"{type(err).__name__}: {err}") from err  # fmt: skip

    @property
    def spec(self) -> StageSpec | None:
        """The factory's declared :class:`StageSpec` (``None`` for a plugin that declares none); a plugin's, with
        each call's failure a :class:`PluginError` naming it (a spec whose ``types()`` raised was an internal
        error)."""
        spec = getattr(self.load(), "spec", None)
        if not isinstance(spec, StageSpec):
            return None
        if self.source in ("refedit", "runtime"):
            return spec
        return StageSpec(types=_guarded(self, "its spec's types()", spec.types),
                         check=_guarded(self, "its spec's check()", spec.check),
                         roles=_guarded(self, "its spec's roles()", spec.roles),
                         optional_roles=frozenset(spec.optional_roles))  # fmt: skip

    @property
    def description(self) -> str:
        doc = (self.load().__doc__ or "").strip()
        return doc.splitlines()[0] if doc else "(no description)"


@cache
def _warn_once(message: str) -> None:
    warnings.warn(message, RefEditWarning, stacklevel=3)


@cache
def _entry_points() -> Any:
    """Every installed entry point, read once per process (each scan walks all installed distributions)."""
    return entry_points()


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
        for ep in _entry_points().select(group=GROUPS[kind]):
            source = ep.dist.name if ep.dist is not None else ep.module
            if ep.name in found and source != found[ep.name].source:  # refedit's own keeps its name, else the first
                first = found[ep.name].source
                unused = first if source == "refedit" else source
                _warn_once(f"two installed {kind}s are named {ep.name!r} ({first}, {source}); {unused}'s is not "
                           "used: rename it in its entry points")  # fmt: skip
                if unused == source:
                    continue
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
        """Build the stage ``name`` of ``kind`` (models are still loaded lazily by the stage). An installed plugin's
        stage, or one registered in this process, comes wrapped (:class:`PluginStage`): its failures and wrong
        results name it instead of reading as refedit's bugs."""
        entry = self.get(kind, name)
        if entry.source == "refedit":
            return entry.load()(context)
        stage = _guarded(entry, "its factory", entry.load())(context)
        return PluginStage(stage, entry)

    def register(self, kind: str, name: str, factory: Factory) -> None:
        """Register a factory in this process (tests, notebooks); same contract as an entry point."""
        self._check_kind(kind)
        self._extra[(kind, name)] = StageEntry(kind, name, "runtime", lambda: factory)

    def unregister(self, kind: str, name: str) -> None:
        self._extra.pop((kind, name), None)


def _guarded(entry: StageEntry, what: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` with a failure that is no :class:`RefEditError` raised as :class:`PluginError` naming ``entry``."""
    from refedit.errors import PluginError, RefEditError

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except RefEditError:
            raise
        except Exception as err:  # noqa: BLE001 - whatever a third party's code raises
            if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":  # the machine's, no bug
                raise
            raise PluginError(f"the {entry.kind} {entry.name!r} {entry.origin} failed in {what}: "
                              f"{type(err).__name__}: {err} ({entry.whose_bug})") from err
    return guarded


class PluginStage:
    """An installed plugin's stage, or one registered in this process: every public method's failure is a
    :class:`PluginError` naming it, and an editor's result must be an :class:`EditResult` of the input's size (a
    string or a 10x10 image from a plugin was refedit's "internal error", further on)."""

    #: (kind, method) -> the check of what the method returns
    _RESULT_CHECKS = {("editor", "edit"): "_checked", ("segmenter", "segment"): "_checked_mask",
                      ("parser", "parse"): "_checked_plan"}  # fmt: skip

    def __init__(self, stage: Any, entry: StageEntry) -> None:
        self._stage, self._entry = stage, entry

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._stage, attr)
        if attr.startswith("_") or not callable(value):
            return value
        guarded = _guarded(self._entry, f"{attr}()", value)
        if (self._entry.kind, attr) in self._RESULT_CHECKS:
            check = getattr(self, self._RESULT_CHECKS[(self._entry.kind, attr)])
            return lambda *a, **k: check(guarded(*a, **k), k.get("image"))
        return guarded

    def _bug(self, what: str) -> Exception:
        from refedit.errors import PluginError

        entry = self._entry
        return PluginError(f"the {entry.kind} {entry.name!r} {entry.origin} {what} ({entry.whose_bug})")

    def _checked(self, result: Any, image: Any) -> Any:
        import json

        from refedit.pipeline.artifacts import EditResult

        if not isinstance(result, EditResult):
            raise self._bug(f"returned {type(result).__name__}, not an EditResult")
        if image is not None and result.image.size != image.size:
            raise self._bug(f"returned a {result.image.width}x{result.image.height} image for a {image.width}x"
                            f"{image.height} input")  # fmt: skip
        try:  # they go into the JSON record and the PNG's text: a failure there came after the image was written
            json.dumps(dict(result.parameters), allow_nan=False)
        except (TypeError, ValueError) as err:
            raise self._bug(f"returned parameters that are not JSON ({err})") from None
        return result

    def _checked_mask(self, result: Any, image: Any) -> Any:
        from refedit.pipeline.artifacts import Segmentation

        if not isinstance(result, Segmentation):
            raise self._bug(f"returned {type(result).__name__}, not a Segmentation")
        if image is not None and result.mask.shape != (image.height, image.width):
            raise self._bug(f"returned a {result.mask.shape[1]}x{result.mask.shape[0]} mask for a {image.width}x"
                            f"{image.height} image")  # fmt: skip
        return result

    def _checked_plan(self, result: Any, image: Any) -> Any:
        from refedit.pipeline.artifacts import EditPlan

        if not isinstance(result, EditPlan):
            raise self._bug(f"returned {type(result).__name__}, not an EditPlan")
        return result


#: The process-wide registry.
registry = Registry()


def check_options(options: Mapping[str, Any], stages: Mapping[str, str], *, what: str = "option",
                  flags: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Check the user's stage options against the chosen ``stages`` (kind -> registry name) before anything
    heavy runs, and return them typed (``"4"`` -> 4). Every name must be understood by a chosen stage: an
    unknown name is answered with its close matches, a name only other installed stages understand with their
    names; every value must fit its type and range (each chosen stage builds its options). ``None`` values
    mean "not given". A chosen stage that declares no :class:`StageSpec` may take any name.

    ``flags``: option name -> the flag the user gave it by (``"--box-threshold"``), so that a message about it
    names what was typed, not the option's name."""
    try:
        return _check_options(options, stages, what)
    except BadInput as e:
        raise BadInput(_as_typed(str(e), what, flags or {})) from None


def _as_typed(message: str, what: str, flags: Mapping[str, str]) -> str:
    """``message`` about an option (starting with its name, or with ``what 'name'``) naming its flag instead."""
    for name, flag in flags.items():
        for said in (f"{what} {name!r} ", f"{what} {name} ", f"{name} "):
            if message.startswith(said):
                return flag + message[len(said) - 1 :]
    return message


def _check_options(options: Mapping[str, Any], stages: Mapping[str, str], what: str) -> dict[str, Any]:
    given = {k: v for k, v in options.items() if v is not None}
    entries = {kind: registry.get(kind, name) for kind, name in stages.items()}
    specs = {kind: e.spec for kind, e in entries.items()}
    known: dict[str, Any] = {}
    for spec in specs.values():
        if spec is not None:
            known.update(spec.types())
    open_ended = any(spec is None for spec in specs.values())
    for name in given:
        if name not in known and not open_ended:
            raise BadInput(_not_understood(name, what, [e.name for e in entries.values()], known))
    for spec in specs.values():  # each stage's own types, ranges and cross-field checks, in its words
        if spec is not None:
            spec.check(given)
    return {k: typed(f"{what} {k}", v, known[k]) if k in known else loose(v) for k, v in given.items()}


def model_roles(stages: Mapping[str, str], options: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The (role, model id override or None) pairs the chosen ``stages`` will load with these options, from
    their specs (a stage without a spec declares none)."""
    roles: list[tuple[str, str | None]] = []
    for kind, name in stages.items():
        spec = registry.get(kind, name).spec
        if spec is not None:
            roles += [r for r in spec.roles(options).items() if r not in roles]
    return roles


def unused_roles(stages: Mapping[str, str], options: Mapping[str, Any], given: Sequence[str]) -> list[str]:
    """The roles among ``given`` (model flags the user set) that none of the chosen ``stages`` loads with these
    options, required or optional; none when a stage declares no spec (what it loads is unknown)."""
    used: set[str] = set()
    for kind, name in stages.items():
        spec = registry.get(kind, name).spec
        if spec is None:
            return []
        used.update(role for role, _ in spec.roles(options).items())
        used.update(spec.optional_roles)
    return [role for role in given if role not in used]


def all_option_types() -> dict[str, dict[str, Any]]:
    """Option name -> {"kind name" of each installed stage that understands it (e.g. "editor sdedit"): its type}."""
    from refedit.errors import PluginError

    out: dict[str, dict[str, Any]] = {}
    for kind in GROUPS:
        for name, entry in registry.entries(kind).items():
            try:
                spec = entry.spec
                types = spec.types() if spec is not None else {}
            except (ModelUnavailable, PluginError):  # a broken plugin hid every typo's answer behind its own error
                continue
            for option_name, t in types.items():
                out.setdefault(option_name, {})[f"{kind} {name}"] = t
    return out


#: options a command gives by its own flag, not as a stage option
COMMAND_FLAGS = {"seed": "--seed"}


def _not_understood(name: str, what: str, chosen: list[str], known: Mapping[str, Any]) -> str:
    if name in COMMAND_FLAGS:  # "-O seed=5" was sent to the one stage with a seed option of its own
        return f"{what} {name!r} is no stage option: give it as {COMMAND_FLAGS[name]}"
    owners = all_option_types().get(name)
    if owners:
        return (f"{what} {name!r} is not used by the chosen stages ({', '.join(chosen)}); "
                f"it is an option of {', '.join(sorted(owners))}")  # fmt: skip
    return f"unknown {what} {name!r}{close_matches(name, known) or close_matches(name, all_option_types())}"
