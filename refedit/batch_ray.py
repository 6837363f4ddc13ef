"""The Ray engine of ``refedit batch --engine ray``: the same items, outputs, skip-existing resume and JSON-lines
log as the local engine, with the items flowing through Ray Data to a pool of actors.

The driver (this process) checks the items, logs rejected rows and items whose outputs already exist, and
hands the rest to ``ray.data.from_items(...).map_batches(ItemWorker, batch_size=1, compute=ActorPoolStrategy)``.
Each actor rebuilds the :class:`~refedit.batch.BatchRunner` from :meth:`~refedit.batch.BatchRunner.worker_config`
(one ModelStore, so each model loads once per actor), runs ``run_item`` (the local engine's per-item work: an
item's exception is its ``failed`` record) and writes its outputs atomically into the output folder, which
must be storage every node shares. The records stream back to the driver, which logs them as they arrive.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from refedit.batch import BatchItem, Item, Rejected
from refedit.errors import BadInput, InternalError, ModelUnavailable

if TYPE_CHECKING:
    from refedit.batch import BatchRunner

INSTALL = "--engine ray needs Ray Data, which is not installed: pip install 'refedit[ray]' (or pip install 'ray[data]')"
#: object store of a local Ray started by refedit: only item descriptions and log records travel through it
LOCAL_OBJECT_STORE = 256 * 1024**2


def import_ray() -> Any:
    """The ``ray`` module with Ray Data, or :class:`ModelUnavailable` (exit 5) saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - ray without the [data] extra lacks pyarrow/pandas
    except ImportError as err:
        raise ModelUnavailable(INSTALL) from err
    return ray


@dataclass(frozen=True)
class ItemStat:
    """What the driver learns about one item besides its record (for progress and the benchmark): the actor
    ``worker`` (its pid) and how many model loads it had made after the item (``loads``, of which ``distinct``
    different components: equal when no model was loaded twice), wall-clock times (``time.time()``)
    when the actor became ready, began and finished the item, and when the driver received it."""

    index: int
    worker: int
    loads: int
    distinct: int
    ready_at: float
    started_at: float
    finished_at: float
    received_at: float

    @property
    def call_seconds(self) -> float:
        return self.finished_at - self.started_at


class ItemWorker:
    """One Ray Data actor: one runner (its stages, one ModelStore) for the actor's whole life. Subclassed per
    run by :func:`worker_class` with the runner's configuration as a class attribute (so no constructor argument
    sits in the object store)."""

    config: dict[str, Any] = {}

    def __init__(self) -> None:
        from refedit.batch import BatchRunner

        self.runner = BatchRunner(**self.config)
        self.ready_at = time.time()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        keys = ("record", "worker", "loads", "distinct", "ready_at", "started_at", "finished_at")
        out: dict[str, list[Any]] = {k: [] for k in keys}
        for payload in batch["item"]:
            started = time.time()
            record = self.runner.run_item(pickle.loads(payload))
            out["finished_at"].append(time.time())
            out["record"].append(json.dumps(record, default=str))
            out["started_at"].append(started)
            out["worker"].append(os.getpid())
            out["loads"].append(len(self.runner.store.loads))
            out["distinct"].append(len(set(self.runner.store.loads)))
            out["ready_at"].append(self.ready_at)
        return out


def worker_class(config: dict[str, Any]) -> type[ItemWorker]:
    """An :class:`ItemWorker` subclass that builds its runner from ``config``."""
    return type("RefEditItemWorker", (ItemWorker,), {"config": config})


#: seconds to wait for a cluster's port to answer before saying it cannot be reached (Ray itself retries for minutes)
CONNECT_TIMEOUT = 5.0


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """:class:`BadInput` when nothing listens at a ``HOST:PORT`` (or ``ray://HOST:PORT``) cluster address, in
    seconds instead of Ray's minutes of retries and log lines; ``auto`` and other forms are left to Ray."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise BadInput(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


@dataclass
class RayEngine:
    """Runs a batch's items on Ray: a local Ray this engine starts (all the machine's CPUs) unless Ray is already
    initialised in this process, or the cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``).
    ``workers`` actors (default: one per GPU, else one per CPU; never more than the items to run), each bound to
    ``gpus_per_worker`` GPUs (default 1 when the cluster has GPUs, else 0). Use it as a context manager: Ray is
    connected on entry (before any log line) and shut down on exit if this engine started it."""

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    stats: list[ItemStat] = field(default_factory=list)
    started_at: float = 0.0
    _ray: Any = None
    _owns: bool = False

    def __enter__(self) -> "RayEngine":
        ray = import_ray()
        self._ray = ray
        if self.address:  # a cluster the user named must answer, whatever Ray this process already has
            check_reachable(self.address)
        if not ray.is_initialized():
            address = self.address or os.environ.get("RAY_ADDRESS") or None  # Ray's own variable names a cluster too
            kwargs: dict[str, Any] = dict(address=address, include_dashboard=False, logging_level=logging.WARNING,
                                          log_to_driver=False)  # fmt: skip
            if address is None:  # "local": a new Ray on this machine, never a cluster someone else started here
                kwargs.update(address="local", num_cpus=os.cpu_count() or 1, object_store_memory=LOCAL_OBJECT_STORE)
            elif not self.address:  # RAY_ADDRESS
                check_reachable(address)
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError, RuntimeError) as err:
                where = f"the Ray cluster at {address}" if address else "a local Ray"
                raise BadInput(f"cannot start or reach {where}: {_first_line(err)}") from None
            self._owns = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the driver reports per item, as the local engine does
        ctx.print_on_execution_start = False
        try:
            self.pool(1)  # a --gpus-per-worker the cluster cannot give is refused before any log line
        except BadInput:
            self.__exit__()
            raise
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no "execution finished" lines between ours
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "progress bars disabled"
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._owns:
            self._ray.shutdown()
            self._owns = False

    def summary_line(self) -> str:
        """Per actor: the items it ran and the model loads it made (and how many of them loaded a component
        it had loaded before: none, as each actor's ModelStore loads each model once)."""
        per: dict[int, list[ItemStat]] = {}
        for st in self.stats:
            per.setdefault(st.worker, []).append(st)
        parts = []
        for stats in per.values():
            last = max(stats, key=lambda st: st.finished_at)
            again = f", {last.loads - last.distinct} loaded again" if last.loads > last.distinct else ""
            parts.append(f"{len(stats)} items, {last.loads} model loads{again}")
        return f"ray: {len(self.stats)} items on {len(per)} workers ({'; '.join(parts)})"

    def pool(self, todo: int) -> tuple[int, float]:
        """(actors, GPUs per actor) for ``todo`` items on the connected cluster."""
        resources = self._ray.cluster_resources()
        gpus = float(resources.get("GPU", 0.0))
        per = self.gpus_per_worker if self.gpus_per_worker is not None else (1.0 if gpus else 0.0)
        if per > gpus:
            raise BadInput(f"--gpus-per-worker {per:g} but the Ray cluster has {gpus:g} GPUs")
        default = int(gpus // per) if per else int(resources.get("CPU", 1))
        return max(1, min(self.workers or default, todo)), per

    def records(self, runner: BatchRunner, items: list[Item]) -> Iterator[dict[str, Any]]:
        """Rejected rows and items whose outputs exist first (from the driver), then each run item's record as
        its actor finishes it."""
        if self._ray is None:
            raise InternalError("RayEngine.records outside `with RayEngine(...)`")
        todo: list[BatchItem] = []
        for item in items:
            record = runner.rejected(item) if isinstance(item, Rejected) else runner.precheck(item)
            if record is None:
                todo.append(item)  # type: ignore[arg-type]
            else:
                yield record
        if todo:
            yield from self._run(runner, todo)

    def _run(self, runner: BatchRunner, todo: list[BatchItem]) -> Iterator[dict[str, Any]]:
        from ray.exceptions import RayError

        actors, gpus = self.pool(len(todo))
        ds = self._ray.data.from_items([{"item": pickle.dumps(i)} for i in todo], override_num_blocks=len(todo))
        ds = ds.map_batches(worker_class(runner.worker_config()), batch_size=1, batch_format="numpy",
                            compute=self._ray.data.ActorPoolStrategy(size=actors), num_cpus=1,
                            num_gpus=gpus or None)  # fmt: skip
        self.started_at = time.time()
        try:
            for row in ds.iter_rows():
                record = json.loads(row["record"])
                self.stats.append(ItemStat(record["index"], int(row["worker"]), int(row["loads"]), int(row["distinct"]),
                                           float(row["ready_at"]), float(row["started_at"]), float(row["finished_at"]),
                                           time.time()))  # fmt: skip
                yield record
        except RayError as err:
            raise InternalError(f"the Ray run stopped: {_first_line(err)} (rerun to resume: finished items are kept)"
                                ) from err  # fmt: skip


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
