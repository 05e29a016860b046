"""Stage runner: budgeted, concurrent (local processes or Ray) runs of the OPSUB stage graph,
and portable stage bundles (export/import) and committed stage results."""
