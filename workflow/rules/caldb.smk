# The RMF and SPECRESP file from the CALDB (local, or remote over HTTPS; stored once and
# referenced by every spectrum).


rule get_responses:
    input:
        caldb_index,
    output:
        rmf=RMF,
        specresp=SPECRESP,
    log:
        f"{LOGS}/get_responses.log",
    benchmark:
        f"{BENCH}/get_responses.tsv"
    conda:
        "../envs/python.yaml"
    params:
        # a remote CALDB's URL and the retry settings are read from the config in the job,
        # so that switching a mirror does not re-run every response and fit
        root=caldb_root(),
        remote=caldb_remote(),
        mirror=f"{R}/caldb/remote",
        expression=config["caldb"]["rmf_expression"],
    script:
        "../scripts/get_responses.py"


if caldb_remote():

    # a network job: it stays on the machine that runs Snakemake
    localrules:
        get_responses,
