"""Independent units of work (LENET training stacks, search groups) on the executor the user
chose: this process or local worker processes (the default), or Ray tasks (the optional
extra `nasrepro[ray]`; a local Ray or a cluster). `nasrepro run --executor ray` and pytest's
`--executor ray` choose it through the environment (EXECUTOR_ENV, JOBS_ENV, ADDRESS_ENV), so
the experiments behind the claim tests see it without new arguments.

A unit is a picklable module-level function with its arguments, and its result must not
depend on where it runs. A Ray worker whose machine class (CPU code path, core count, GPU
model, torch) differs from the driver's refuses its unit: its float results would belong
to another baseline.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nasrepro.errors import ConfigError, NasreproError

EXECUTOR_ENV = "NASREPRO_EXECUTOR"
JOBS_ENV = "NASREPRO_JOBS"
ADDRESS_ENV = "NASREPRO_RAY_ADDRESS"
KINDS = ("local", "ray")
_UNREACHABLE: dict[str, str] = {}  # Ray addresses this process could not connect to


@dataclass(frozen=True)
class ExecutorChoice:
    """Where units run: kind 'local' | 'ray'; jobs = units at once (None: each experiment's
    own default, e.g. LENET's 2 worker processes on the CPU); address = a Ray cluster."""

    kind: str = "local"
    jobs: int | None = None
    address: str | None = None

    def env(self) -> dict[str, str]:
        """The environment variables that pass this choice to a child process."""
        out = {EXECUTOR_ENV: self.kind}
        if self.jobs is not None:
            out[JOBS_ENV] = str(self.jobs)
        if self.address:
            out[ADDRESS_ENV] = self.address
        return out


def check_choice(kind: str, jobs: int | None, address: str | None) -> ExecutorChoice:
    """A validated choice; a bad value (or Ray asked for and not installed) is one
    ConfigError line that says what to do."""
    if kind not in KINDS:
        raise ConfigError(f"executor {kind!r}: use one of {', '.join(KINDS)} "
                          f"(option --executor or ${EXECUTOR_ENV})")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: need at least 1 (or leave it out for each "
                          "experiment's default)")
    if address and kind != "ray":
        raise ConfigError("a Ray address (--address / $NASREPRO_RAY_ADDRESS) needs "
                          "--executor ray")
    if kind == "ray":
        require_ray()
    return ExecutorChoice(kind, jobs, address or None)


def choice_from_env(env: Mapping[str, str] | None = None) -> ExecutorChoice:
    """The choice the environment carries (unset: local, each experiment's default jobs)."""
    env = os.environ if env is None else env
    raw_jobs = env.get(JOBS_ENV, "").strip()
    try:
        jobs = int(raw_jobs) if raw_jobs else None
    except ValueError:
        raise ConfigError(f"${JOBS_ENV}={raw_jobs!r}: need a whole number of jobs") from None
    return check_choice(env.get(EXECUTOR_ENV, "local").strip() or "local", jobs,
                        env.get(ADDRESS_ENV, "").strip() or None)


@dataclass(frozen=True)
class Unit:
    """One independent piece of work: fn(*args), named for progress and errors. cached:
    fn is a thin wrapper around results of nasrepro.experiments.cache, so where they are
    all stored run_units reads them in the driver instead of sending the unit away."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    label: str
    cached: bool = False


def require_ray() -> Any:
    """The ray module, or one ConfigError line saying how to get it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray: Ray is not installed; pip install 'nasrepro[ray]' "
                          "(or use the default local executor)") from None
    return ray


def ray_session(cpus: int, address: str | None) -> Any:
    """The Ray module, connected once per process: to `address` (a running cluster; every
    node needs nasrepro, the data root and, for cached results, the same reports folder)
    or to a local Ray with `cpus` CPUs. Shut down when the process exits."""
    ray = require_ray()
    if address in _UNREACHABLE:
        raise ConfigError(_UNREACHABLE[address])  # said once already: fail at once
    if not ray.is_initialized():
        if address:
            try:
                ray.init(address=address, include_dashboard=False)
            except ConnectionError as exc:
                _UNREACHABLE[address] = (
                    f"--address {address}: cannot connect to a Ray cluster there ({exc}). Is "
                    "it started (`ray start --head`)? Ray >= 2.59 clusters use token "
                    "authentication: export RAY_AUTH_MODE=token (the token comes from "
                    "~/.ray/auth_token or RAY_AUTH_TOKEN; `ray get-auth-token` on the head "
                    "prints it), or pass --address auto on a node of the cluster")
                raise ConfigError(_UNREACHABLE[address]) from None
        else:
            ray.init(num_cpus=cpus, include_dashboard=False)
        atexit.register(ray.shutdown)
    return ray


def _guarded_call(fn: Callable[..., Any], args: tuple[Any, ...], label: str,
                  driver_class: str, device: str) -> Any:
    """Run a unit on a Ray worker after checking that its machine class is the driver's."""
    from nasrepro.measure.environment import machine_class

    here = machine_class(device)
    if here != driver_class:
        raise ConfigError(f"{label}: this Ray worker is machine class {here}, the driver "
                          f"{driver_class}; float results differ between classes, so run "
                          "the units on nodes of the driver's class")
    return fn(*args)


def run_units(units: Sequence[Unit], *, device: str, default_jobs: int,
              cpus_per_unit: int = 1,
              on_done: Callable[[int, int, Any], None] | None = None,
              choice: ExecutorChoice | None = None) -> list[Any]:
    """Results of `units`, in their order. on_done(index, finished so far, result) is called
    in the driver as each finishes. Local: jobs <= 1 runs them here one after another, more
    spawns that many worker processes. Ray: one task per unit with `cpus_per_unit` CPUs and,
    on CUDA, 1/jobs of a GPU (several units share one device)."""
    choice = choice or choice_from_env()
    results: list[Any] = [None] * len(units)
    finished = 0

    def finish(i: int, res: Any) -> None:
        nonlocal finished
        results[i] = res
        finished += 1
        if on_done is not None:
            on_done(i, finished, res)

    todo = list(range(len(units)))
    jobs = min(choice.jobs or default_jobs, max(len(todo), 1))
    if choice.kind == "ray" or jobs > 1:
        # units whose results are all cached are read here: spawning workers (or Ray
        # tasks) only to load a cache file costs seconds per call (a torch import each)
        from nasrepro.experiments.cache import NOT_STORED, stored_only

        for i in [i for i in todo if units[i].cached]:
            if (res := stored_only(units[i].fn, *units[i].args)) is not NOT_STORED:
                todo.remove(i)
                finish(i, res)
        jobs = min(jobs, max(len(todo), 1))
    if not todo:
        return results
    if choice.kind == "ray":
        cpus = max(choice.jobs or os.cpu_count() or 1, cpus_per_unit)
        _run_on_ray([(i, units[i]) for i in todo], device, jobs, cpus_per_unit,
                    ray_session(cpus, choice.address), finish)
    elif jobs <= 1:
        for i in todo:
            finish(i, units[i].fn(*units[i].args))
    else:
        with WorkerPool(jobs) as pool:
            futures = {pool.submit(units[i].fn, *units[i].args): i for i in todo}
            pending = set(futures)
            while pending:
                done = pool.wait(pending)
                pending -= done
                for fut in done:
                    finish(futures[fut], fut.result())
    return results


def cpu_default_jobs(device: str) -> int:
    """Worker processes for independent units when the user chose none: two on the CPU (one
    thread each: the project's machines have 2 cores; fewer where the machine has fewer),
    one elsewhere (units on one GPU share it through --jobs explicitly)."""
    return min(2, os.cpu_count() or 1) if device == "cpu" else 1


class WorkerPool:
    """`jobs` spawned worker processes (fork after torch init can deadlock) whose progress
    lines the driver emits while it waits: under pytest a worker's stderr is captured with
    the driver's, so its lines would show only on failure. run_units and the stage runner's
    LocalExecutor use it."""

    def __init__(self, jobs: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.lines = ctx.Queue()
        self.pool = cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init,
                                           initargs=(self.lines, os.getpid()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self.pool.submit(fn, *args)

    def wait(self, futures: Any) -> set[cf.Future]:
        """The futures done once at least one is, forwarding worker lines meanwhile."""
        from nasrepro.progress import forward

        while True:
            done, _ = cf.wait(futures, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            forward(self.lines)
            if done:
                return done

    def close(self, terminate: bool = False) -> None:
        """Shut the pool down: queued units cancelled, running ones waited for; with
        `terminate` (Ctrl-C) the workers are stopped at once instead (what they finished is
        stored already; a unit cut short resumes from its checkpoint or reruns)."""
        from nasrepro.progress import forward

        if terminate:
            stop = getattr(self.pool, "terminate_workers", None)  # Python >= 3.14
            if stop is not None:
                stop()
            else:
                for proc in list((self.pool._processes or {}).values()):
                    proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=True)
        forward(self.lines)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(terminate=exc_type is not None and issubclass(exc_type, KeyboardInterrupt))


def _worker_init(lines: Any, parent: int) -> None:
    """Initializer of a WorkerPool process: progress lines to the driver, and an exit of its
    own once the driver is gone (killed, or its parent killed it): a worker left behind
    would compute on, then block on a pipe nobody reads, for ever."""
    import threading
    import time

    from nasrepro.progress import worker_init

    worker_init(lines)

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=exit_with_parent, name="exit-with-driver", daemon=True).start()


def _run_on_ray(units: Sequence[tuple[int, Unit]], device: str, jobs: int, cpus_per_unit: int,
                ray: Any, finish: Callable[[int, Any], None]) -> None:
    """At most `jobs` (index, unit)s in flight as Ray tasks; the next is submitted as one
    finishes."""
    from nasrepro.measure.environment import machine_class
    from nasrepro.progress import emit

    gpus = 1.0 / jobs if device.startswith("cuda") else 0
    where = ray.get_runtime_context().gcs_address
    emit(f"[ray] {len(units)} unit(s) ({units[0][1].label}, ...) as Ray tasks, {jobs} at once, "
         f"{cpus_per_unit} CPU" + (f" + {gpus:.2g} GPU" if gpus else "") + f" each, on {where}")
    remote = ray.remote(num_cpus=cpus_per_unit, num_gpus=gpus, max_retries=0)(_guarded_call)
    driver_class = machine_class(device)
    queue = list(units)[::-1]
    pending: dict[Any, int] = {}
    while queue or pending:
        while queue and len(pending) < jobs:
            i, u = queue.pop()
            pending[remote.remote(u.fn, u.args, u.label, driver_class, device)] = i
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            finish(pending.pop(ref), ray_result(ray, ref))


def ray_result(ray: Any, ref: Any) -> Any:
    """ray.get(ref), with a task's nasrepro error raised as itself (its one line), any other
    error with the worker's traceback."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, NasreproError):
            raise exc.cause from None
        raise exc.as_instanceof_cause() from None
