# The sample, matched with 2RXS: the checkpoint that fixes the per-source targets.


checkpoint match_sample:
    input:
        sample=sample_input(),
        rxs=rxs_input(),
    output:
        table=SAMPLE,
    params:
        sample=config["sample"],
        crossmatch=config["crossmatch"],
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/match_sample.log",
    benchmark:
        f"{BENCH}/match_sample.tsv"
    script:
        "../scripts/match_sample.py"
