"""Only for tools/device/rehearse.sh, which puts this folder first on PYTHONPATH: every Python
process it starts (nasrepro run, its pytest, the spawned stage workers) runs the OPSUB full
tier as `opsub.rehearsal_tier()` - the full tier's recipe and structure at the smoke tier's
sizes, allowed on the CPU - so the GPU run's commands execute end to end before a lease.
Records made this way stay in the rehearsal's temporary folder; they are never results."""

import os

if os.environ.get("NASREPRO_REHEARSAL") == "full":
    from nasrepro.experiments import opsub

    opsub.TIERS["full"] = opsub.rehearsal_tier()
