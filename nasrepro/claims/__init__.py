"""Claims: paper references, tolerances, verdicts, statistics, records and baselines."""

from nasrepro.claims.records import ClaimResult, Measurement
from nasrepro.claims.tolerances import Tolerance
from nasrepro.claims.verdicts import Verdict

__all__ = ["ClaimResult", "Measurement", "Tolerance", "Verdict"]
