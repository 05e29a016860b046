"""Report: REPORT.md (tabulate tables) and figures (matplotlib) rendered from records."""
