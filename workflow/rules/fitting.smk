# Spectral fits: every configured model per source, one JSON per source.


rule fit_spectrum:
    input:
        grouped=PRODUCT["grouped"],
        background=PRODUCT["background"],
        rmf=RMF,
        arf=PRODUCT["arf"],
        sample=SAMPLE,  # params read the sample (the checkpoint)
    output:
        fit=PRODUCT["fit"],
    log:
        f"{LOGS}/fit_spectrum/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/fit_spectrum/{SOURCE_TAG}.tsv"
    conda:
        FIT_ENV
    resources:
        mem_mb=1000,
    params:
        centre=source_centre,
        settings=STAGE_SETTINGS["fit_spectrum"],
    script:
        "../scripts/run_stage.py"


rule measure_photometry:
    input:
        spectrum=PRODUCT["spectrum"],
        background=PRODUCT["background"],
        rmf=RMF,
        specresp=SPECRESP,
        arf=PRODUCT["arf"],
    output:
        photometry=PRODUCT["photometry"],
    log:
        f"{LOGS}/measure_photometry/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/measure_photometry/{SOURCE_TAG}.tsv"
    conda:
        "../envs/python.yaml"
    params:
        settings=STAGE_SETTINGS["measure_photometry"],
    script:
        "../scripts/run_stage.py"
