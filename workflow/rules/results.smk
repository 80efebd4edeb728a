# The spectral results table: one row per matched source (rassflow.report.results).


rule make_results_table:
    input:
        sample=SAMPLE,
        fits=fit_inputs,
    output:
        csv=report(RESULTS_CSV, caption="../report/results.rst", category="Results"),
        fits=RESULTS_FITS,
    log:
        f"{LOGS}/make_results_table.log",
    benchmark:
        f"{BENCH}/make_results_table.tsv"
    conda:
        "../envs/python.yaml"
    params:
        fits=fit_paths,
        fit=config["fit"],
        distance=rassflow.plan.distance_columns(config),
        provenance=provenance("rassflow.report.results", "fit"),
    script:
        "../scripts/make_results_table.py"
