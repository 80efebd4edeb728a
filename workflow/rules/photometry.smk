# The photometry table: one row per sample member (rassflow.report.photometry).


rule make_photometry_table:
    input:
        members=MEMBERS,
        tables=photometry_tables,
    output:
        csv=report(
            PHOTOMETRY_CSV, caption="../report/photometry.rst", category="Results"
        ),
        fits=PHOTOMETRY_FITS,
    log:
        f"{LOGS}/make_photometry_table.log",
    benchmark:
        f"{BENCH}/make_photometry_table.tsv"
    conda:
        "../envs/python.yaml"
    params:
        bands=config["fit"]["flux_bands_keV"],
        distance=rassflow.plan.distance_columns(config),
        provenance=provenance(
            "rassflow.report.photometry", "photometry", "fit.flux_bands_keV"
        ),
    script:
        "../scripts/make_photometry_table.py"
