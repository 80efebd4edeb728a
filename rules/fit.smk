# Spectral fits: every configured model per source, one JSON per source.


rule fit_spectrum:
    input:
        grouped=f"{STEM}{SUFFIX['grouped']}",
        background=f"{STEM}{SUFFIX['background']}",
        rmf=RMF,
        arf=f"{STEM}{SUFFIX['arf']}",
    output:
        fit=f"{STEM}{SUFFIX['fit']}",
    params:
        fit=config["fit"],
        fitter=config["tools"]["fitter"],
        backend=config["tools"]["products"],
    conda:
        FIT_ENV
    log:
        f"{LOGS}/fit_spectrum/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/fit_spectrum/{SOURCE_TAG}.tsv"
    resources:
        mem_mb=1000,
    script:
        "../scripts/fit_spectrum.py"
