"""Where stage tasks run: in this process (one job), in N local worker processes, or as Ray
tasks (optional extra `nasrepro[ray]`; fractional GPUs so several fit one device)."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from nasrepro.parallel import WorkerPool
from nasrepro.stages.task import StageTask, run_stage_task


class LocalExecutor:
    """jobs == 1: each task runs in this process; jobs > 1: a pool of `jobs` spawned
    processes (each loads the data once and runs one stage at a time)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.pool = WorkerPool(jobs) if jobs > 1 else None  # forwards workers' progress

    def submit(self, task: StageTask) -> cf.Future:
        if self.pool is not None:
            return self.pool.submit(run_stage_task, task)
        fut: cf.Future = cf.Future()
        fut.set_result(run_stage_task(task))  # an exception propagates to the caller
        return fut

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        done = (self.pool.wait(handles) if self.pool is not None
                else cf.wait(handles, return_when=cf.FIRST_COMPLETED)[0])
        return [(h, h.result()) for h in done]

    def close(self, terminate: bool = False) -> None:
        """Stop the workers: after their running stages, or at once (`terminate`: Ctrl-C)."""
        if self.pool is not None:
            self.pool.close(terminate)


class RayExecutor:
    """Stage tasks as Ray tasks: num_cpus 1 and, on CUDA, num_gpus 1/jobs each. Connects to
    `address` (a running cluster; every node needs nasrepro, the data root and a shared
    reports folder) or starts a local Ray with `jobs` CPUs."""

    def __init__(self, jobs: int, device: str, address: str | None = None) -> None:
        from nasrepro.parallel import ray_session

        self.ray = ray = ray_session(jobs, address)
        gpus = 1.0 / jobs if device.startswith("cuda") else 0
        self.remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(run_stage_task)

    def submit(self, task: StageTask) -> Any:
        return self.remote.remote(task)

    def wait(self, handles: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
        from nasrepro.parallel import ray_result

        done, _ = self.ray.wait(handles, num_returns=1)
        return [(h, ray_result(self.ray, h)) for h in done]  # a nasrepro error: one line

    def close(self, terminate: bool = False) -> None:
        """Shut the Ray session down (its tasks stop with it either way)."""
        self.ray.shutdown()


def make_executor(kind: str, jobs: int, device: str, address: str | None = None) -> Any:
    """'local' (default) or 'ray', validated as every executor choice is
    (nasrepro.parallel.check_choice)."""
    from nasrepro.parallel import check_choice

    check_choice(kind, jobs, address)
    return RayExecutor(jobs, device, address) if kind == "ray" else LocalExecutor(jobs)
