"""The verdict vocabulary of the report and how item verdicts combine into a claim verdict."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Verdict(str, Enum):
    """What was measured, compared with what the paper says."""

    REPRODUCED = "REPRODUCED"
    PARTIAL = "PARTIAL"
    NOT_REPRODUCED = "NOT REPRODUCED"
    NOT_RUN = "NOT RUN"

    def __str__(self) -> str:
        return self.value


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """All reproduced -> REPRODUCED; none -> NOT REPRODUCED; a mix -> PARTIAL.

    Items that were not run are ignored unless nothing was run.
    """
    ran = [Verdict(v) for v in verdicts if Verdict(v) is not Verdict.NOT_RUN]
    if not ran:
        return Verdict.NOT_RUN
    if all(v is Verdict.REPRODUCED for v in ran):
        return Verdict.REPRODUCED
    if all(v is Verdict.NOT_REPRODUCED for v in ran):
        return Verdict.NOT_REPRODUCED
    return Verdict.PARTIAL
