# The figures and browsable tables of the HTML report (snakemake --report; rassflow.report.plots).

import rassflow.report.configuration


# the report's front page: configuration, backends and versions, sample size
report: "../report/workflow.rst"


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


rule plot_psf_calibration:
    input:
        calibration=LAYOUT.psf_calibration,
    output:
        report(PSF_FIGURE, caption="../report/psf.rst", category="Results"),
    log:
        f"{LOGS}/plot_psf_calibration.log",
    benchmark:
        f"{BENCH}/plot_psf_calibration.tsv"
    conda:
        "../envs/python.yaml"
    script:
        "../scripts/plot_psf_calibration.py"
