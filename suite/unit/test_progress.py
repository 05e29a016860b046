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
