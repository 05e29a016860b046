"""NAS controllers over the NAS-Bench-201 cell, batched over independent seeds."""
