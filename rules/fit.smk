# Spectral fits: every configured model per source, one JSON per source.


rule fit_spectrum:
    input:
        grouped=f"{STEM}-enALL-grp.fits",
        background=f"{STEM}-enALL-background.fits",
        rmf=RMF,
        arf=f"{STEM}-enALL.arf",
    output:
        fit=f"{STEM}-fit.json",
    params:
        fit=config["fit"],
        fitter=config["tools"]["fitter"],
        backend=config["tools"]["products"],
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/fit_spectrum/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/fit_spectrum/{SOURCE_TAG}.tsv"
    resources:
        mem_mb=1000,
    script:
        "../scripts/fit_spectrum.py"
