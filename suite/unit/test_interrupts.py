"""Stopping a run leaves no process behind: Ctrl-C stops local workers at once, a worker whose
driver is killed exits by itself, and `nasrepro` gives its pytest child time to stop its own
workers. (Found by a new-user walkthrough: 3 of 8 Ctrl-C's during OPSUB/GCNAS runs left
spawned workers computing, then blocked on a pipe, for ever, 330-400 MB each.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nasrepro.parallel import WorkerPool


def _alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


def test_ctrl_c_stops_the_workers_at_once():
    # before: the pool waited for the running units (shutdown(wait=True)), and each worker
    # then picked up the unit queued behind them
    pool = WorkerPool(2)
    futures = [pool.submit(time.sleep, 60) for _ in range(4)]
    while len(pool.pool._processes or {}) < 2 or not all(f.running() for f in futures[:2]):
        time.sleep(0.1)
    pids = list(pool.pool._processes)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), pool:
        raise KeyboardInterrupt
    assert time.monotonic() - started < 10
    assert _gone_within(pids, 5)


def test_a_worker_exits_when_its_driver_is_killed(tmp_path):
    driver = textwrap.dedent("""
        import sys, time
        from nasrepro.parallel import WorkerPool
        pool = WorkerPool(2)
        futures = [pool.submit(time.sleep, 120) for _ in range(2)]
        while not all(f.running() for f in futures):
            time.sleep(0.1)
        print(" ".join(map(str, pool.pool._processes)), flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        proc.kill()  # SIGKILL: no cleanup in the driver at all (a CI timeout, the OOM killer)
        proc.wait()
        assert _gone_within(pids, 10), "workers outlived their killed driver"
    finally:
        proc.kill()


def test_nasrepro_lets_its_child_stop_after_ctrl_c(tmp_path):
    # subprocess.call kills its child 0.25 s after a KeyboardInterrupt; the child (pytest)
    # needs longer to stop its workers, and killed mid-way it left them behind
    marker = tmp_path / "child-stopped-cleanly"
    child = (f"import signal, sys, time\n"
             f"def stop(*_):\n"
             f"    time.sleep(1.5)\n"
             f"    open({str(marker)!r}, 'w').close()\n"
             f"    sys.exit(2)\n"
             f"signal.signal(signal.SIGINT, stop)\n"
             f"print('ready', flush=True)\n"
             f"time.sleep(60)\n")
    parent = (f"import sys\n"
              f"from nasrepro.cli import call_child\n"
              f"try:\n"
              f"    call_child([sys.executable, '-c', {child!r}])\n"
              f"except KeyboardInterrupt:\n"
              f"    sys.exit(130)\n")
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        assert proc.wait(timeout=30) == 130
        assert marker.exists(), "the child was killed before it could stop"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
