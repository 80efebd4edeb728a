# The simulated survey: archive-like skyfields, catalogs, truth and a mini CALDB.


rule simulate_survey:
    output:
        sample=f"{SIMULATED}/sample.csv",
        rxs=f"{SIMULATED}/rass2rxs.fits",
        truth=f"{SIMULATED}/truth.csv",
        archive=directory(f"{SIMULATED}/archive"),
    log:
        f"{LOGS}/simulate_survey.log",
    benchmark:
        f"{BENCH}/simulate_survey.tsv"
    conda:
        "../envs/python.yaml"
    resources:
        mem_mb=2000,
    params:
        settings=config["simulation"],
    script:
        "../scripts/simulate_survey.py"


rule make_caldb:
    output:
        caldb=directory(f"{SIMULATED}/caldb"),
    log:
        f"{LOGS}/make_caldb.log",
    benchmark:
        f"{BENCH}/make_caldb.tsv"
    conda:
        "../envs/python.yaml"
    script:
        "../scripts/make_caldb.py"
