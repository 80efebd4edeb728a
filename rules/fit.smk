# Spectral fits: every configured model per source, one JSON per source.


rule fit_spectrum:
    input:
        grouped=STEM + "-enALL-grp.fits",
        background=STEM + "-enALL-background.fits",
        rmf=RMF,
        arf=STEM + "-enALL.arf",
    output:
        fit=STEM + "-fit.json",
    params:
        fit=config["fit"],
        fitter=config["tools"]["fitter"],
        backend=config["tools"]["products"],
    log:
        f"{LOGS}/fit_spectrum/" + SOURCE_TAG + ".log",
    benchmark:
        f"{BENCH}/fit_spectrum/" + SOURCE_TAG + ".tsv"
    resources:
        mem_mb=1000,
    script:
        "../scripts/fit_spectrum.py"
