# The results table and the figures of the HTML report (snakemake --report).

import rassflow.report.configuration


# the report's front page: configuration, backends and versions, sample size
report: "../report/workflow.rst"


RATES_FIGURE = f"{FIGURES}/rate-comparison.png"
FLUXES_FIGURE = f"{FIGURES}/sample-fluxes.png"
RESULTS_HTML = f"{FIGURES}/tables/rass-spectral-results.html"
PHOTOMETRY_HTML = f"{FIGURES}/tables/rass-photometry.html"

# rule all builds report_targets() (rules/common.smk); the figures and tables defined here
# join them (all_targets looks the name up when rule all's input is evaluated). Lambdas, not
# functions: snakemake --lint asks for functions in common.smk.
_stage_report_targets = report_targets
report_targets = lambda: _stage_report_targets() + [
    RATES_FIGURE,
    FLUXES_FIGURE,
    RESULTS_HTML,
    PHOTOMETRY_HTML,
]
# (id_name, source region, background region) of sample rows, as make_regions writes them
region_files = lambda rows: [
    (row["id_name"], source_paths(row)["src"], source_paths(row)["bkg"]) for row in rows
]
# the region files of sample rows, or what the batches that wrote them declare
region_inputs = lambda rows: (
    [path for _, src, bkg in region_files(rows) for path in (src, bkg)]
    if config["granularity"] == "per_source"
    else batch_outputs("products")
)
matched_rows = lambda: [source_row(row["id_name"]) for row in sample_rows()]
first_skyfield_rows = lambda: _sample().by_seq[skyfields()[0]]


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
        distance=distance_columns(),
        provenance=provenance("rassflow.report.results", "fit"),
    script:
        "../scripts/make_results_table.py"


rule make_photometry_table:
    input:
        members=MEMBERS,
        photometry=photometry_inputs,
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
        photometry=photometry_paths,
        bands=config["fit"]["flux_bands_keV"],
        distance=distance_columns(),
        provenance=provenance(
            "rassflow.report.photometry", "photometry", "fit.flux_bands_keV"
        ),
    script:
        "../scripts/make_photometry_table.py"


rule plot_cutouts:
    input:
        sample=SAMPLE,
        images=lambda wildcards: [
            f"{SKYFIELD}_im1.fits".format(seq=s) for s in skyfields()
        ],
        regions=lambda wildcards: region_inputs(matched_rows()),
    output:
        # one page per 64 sources: cutouts.png, cutouts_page2.png, ...
        report(
            directory(f"{FIGURES}/cutouts"),
            patterns=["{name}.png"],
            caption="../report/cutouts.rst",
            category="Images",
        ),
    log:
        f"{LOGS}/plot_cutouts.log",
    benchmark:
        f"{BENCH}/plot_cutouts.tsv"
    conda:
        "../envs/python.yaml"
    params:
        half_size=config["report"]["cutout_half_size_arcmin"],
        regions=lambda wildcards: {
            name: (src, bkg) for name, src, bkg in region_files(matched_rows())
        },
    script:
        "../scripts/plot_cutouts.py"


rule plot_skyfield_images:
    input:
        sample=SAMPLE,
        images=lambda wildcards: list(image_paths(skyfields()[0]).values()),
        regions=lambda wildcards: region_inputs(first_skyfield_rows()),
    output:
        report(
            f"{FIGURES}/skyfield-images.png",
            caption="../report/skyfield.rst",
            category="Images",
        ),
    log:
        f"{LOGS}/plot_skyfield_images.log",
    benchmark:
        f"{BENCH}/plot_skyfield_images.tsv"
    conda:
        "../envs/python.yaml"
    params:
        images=lambda wildcards: [
            (lo, hi, b, p) for (lo, hi, b), p in image_paths(skyfields()[0]).items()
        ],
        seq=lambda wildcards: skyfields()[0],
        regions=lambda wildcards: region_files(first_skyfield_rows()),
    script:
        "../scripts/plot_skyfield_images.py"


rule plot_spectra:
    input:
        fits=fit_inputs,
    output:
        # one page per fitted source: {id_name}.png
        report(
            directory(f"{FIGURES}/spectra"),
            patterns=["{name}.png"],
            caption="../report/spectra.rst",
            category="Spectra",
        ),
    log:
        f"{LOGS}/plot_spectra.log",
    benchmark:
        f"{BENCH}/plot_spectra.tsv"
    conda:
        "../envs/python.yaml"
    params:
        fits=fit_paths,
        # the grouped spectra, for the groups the fits ignored (read if they exist)
        grouped=lambda wildcards: {
            row["id_name"]: source_paths(row)["grouped"] for row in matched_rows()
        },
    script:
        "../scripts/plot_spectra.py"


rule plot_histograms:
    input:
        results=RESULTS_CSV,
    output:
        report(
            f"{FIGURES}/parameter-histograms.png",
            caption="../report/histograms.rst",
            category="Results",
        ),
    log:
        f"{LOGS}/plot_histograms.log",
    benchmark:
        f"{BENCH}/plot_histograms.tsv"
    conda:
        "../envs/python.yaml"
    params:
        cuts={"max_relative_error": config["report"]["max_relative_error"]},
    script:
        "../scripts/plot_histograms.py"


rule plot_rate_comparison:
    input:
        photometry=PHOTOMETRY_CSV,
        sample=SAMPLE,
    output:
        report(
            RATES_FIGURE,
            caption="../report/rates.rst",
            category="Results",
        ),
    log:
        f"{LOGS}/plot_rate_comparison.log",
    benchmark:
        f"{BENCH}/plot_rate_comparison.tsv"
    conda:
        "../envs/python.yaml"
    script:
        "../scripts/plot_rate_comparison.py"


rule plot_sample_fluxes:
    input:
        photometry=PHOTOMETRY_CSV,
    output:
        report(
            FLUXES_FIGURE,
            caption="../report/fluxes.rst",
            category="Results",
        ),
    log:
        f"{LOGS}/plot_sample_fluxes.log",
    benchmark:
        f"{BENCH}/plot_sample_fluxes.tsv"
    conda:
        "../envs/python.yaml"
    script:
        "../scripts/plot_sample_fluxes.py"


# The tables as pages the report shows (it offers a CSV only as a download).
rule plot_tables:
    input:
        results=RESULTS_CSV,
        photometry=PHOTOMETRY_CSV,
    output:
        results=report(
            RESULTS_HTML,
            caption="../report/results.rst",
            category="Results",
            labels={"table": "spectral results (browsable)"},
        ),
        photometry=report(
            PHOTOMETRY_HTML,
            caption="../report/photometry.rst",
            category="Results",
            labels={"table": "photometry (browsable)"},
        ),
    log:
        f"{LOGS}/plot_tables.log",
    benchmark:
        f"{BENCH}/plot_tables.tsv"
    conda:
        "../envs/python.yaml"
    params:
        # recorded for the report's workflow page (report/workflow.rst)
        tools={
            "products": config["tools"]["products"],
            "fitter": config["tools"]["fitter"],
            "versions": TOOLS["versions"],
        },
        # the validated configuration as YAML, for the same page
        configuration=lambda wildcards: rassflow.report.configuration.config_yaml(
            config
        ),
    script:
        "../scripts/plot_tables.py"
