# The results table and the figures of the HTML report (snakemake --report).


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
    script:
        "../scripts/plot_cutouts.py"


rule plot_skyfield_images:
    input:
        sample=SAMPLE,
        images=lambda wildcards: list(image_paths(skyfields()[0]).values()),
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
    script:
        "../scripts/plot_skyfield_images.py"


rule plot_spectra:
    input:
        fits=fit_inputs,
    output:
        directory(f"{FIGURES}/spectra"),
    log:
        f"{LOGS}/plot_spectra.log",
    benchmark:
        f"{BENCH}/plot_spectra.tsv"
    conda:
        "../envs/python.yaml"
    params:
        fits=fit_paths,
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
