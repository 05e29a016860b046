"""Progress lines: rate-limited, with counts, elapsed time and an ETA."""

from nasrepro import progress


def test_ticker_reports_counts_eta_and_always_the_end():
    lines = []
    progress.set_writer(lines.append)
    try:
        t = progress.Ticker("stage", 100, "samples", every_s=3600)
        t.update(10)   # first update always shows
        t.update(20)   # rate-limited
        t.update(100)  # the end always shows
    finally:
        progress.set_writer(None)
    assert len(lines) == 2
    assert lines[0].startswith("[stage] 10/100 samples") and "ETA" in lines[0]
    assert lines[1].startswith("[stage] 100/100 samples") and "ETA 0s" in lines[1]


def test_fmt_seconds():
    assert progress.fmt_seconds(42) == "42s"
    assert progress.fmt_seconds(185) == "3m05s"
    assert progress.fmt_seconds(3723) == "1h02m03s"


def test_worker_process_lines_reach_the_driver():
    """A local worker's progress lines are emitted by the driver (under pytest a worker's
    own stderr is captured with the driver's: its lines would show only on failure)."""
    from nasrepro.parallel import ExecutorChoice, Unit, run_units

    lines = []
    progress.set_writer(lines.append)
    try:
        run_units([Unit(progress.emit, (f"line from worker {i}",), f"emit {i}")
                   for i in range(2)], device="cpu", default_jobs=2,
                  choice=ExecutorChoice("local"))
    finally:
        progress.set_writer(None)
    assert sorted(lines) == ["line from worker 0", "line from worker 1"]
