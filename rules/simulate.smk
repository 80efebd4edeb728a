# The simulated survey: archive-like skyfields, catalogs, truth and a mini CALDB.


rule simulate_survey:
    output:
        sample=f"{SIMULATED}/sample.csv",
        rxs=f"{SIMULATED}/rass2rxs.fits",
        truth=f"{SIMULATED}/truth.csv",
        archive=directory(f"{SIMULATED}/archive"),
    params:
        settings=config["simulation"],
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/simulate_survey.log",
    benchmark:
        f"{BENCH}/simulate_survey.tsv"
    resources:
        mem_mb=2000,
    script:
        "../scripts/simulate_survey.py"


rule make_caldb:
    output:
        caldb=directory(f"{SIMULATED}/caldb"),
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/make_caldb.log",
    benchmark:
        f"{BENCH}/make_caldb.tsv"
    script:
        "../scripts/make_caldb.py"
