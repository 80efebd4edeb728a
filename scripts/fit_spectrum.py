from rassflow.batch import failed_fit
from rassflow.fitting import fit_and_write
from rassflow.io import write_json
from rassflow.logs import logged
from rassflow.status import run_guarded

with logged(snakemake.log[0]):
    source = snakemake.wildcards.src
    settings = dict(snakemake.params.fit)
    run_guarded(
        snakemake,
        "fit_spectrum",
        lambda: fit_and_write(
            snakemake.input.grouped,
            snakemake.input.background,
            snakemake.input.rmf,
            snakemake.input.arf,
            settings,
            source,
            snakemake.output.fit,
            backend=snakemake.params.backend,
            fitter=snakemake.params.fitter,
        ),
        # the source stays in the results table with the reason it was not fitted
        on_failure=lambda reason: write_json(
            failed_fit(
                source, settings["models"], reason, snakemake.params.backend, snakemake.params.fitter
            ),
            snakemake.output.fit,
        ),
    )
