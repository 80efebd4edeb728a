# The RMF and SPECRESP file from the CALDB (local, or remote over HTTPS; stored once and
# referenced by every spectrum) and an ARF per source.


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


# per-source rules (the batches of rules/batch.smk make the same files)
if config["granularity"] == "per_source":

    rule make_arf:
        input:
            spectrum=PRODUCT["spectrum"],
            background=PRODUCT["background"],
            rmf=RMF,
            specresp=SPECRESP,
        output:
            arf=PRODUCT["arf"],
        log:
            f"{LOGS}/make_arf/{SOURCE_TAG}.log",
        benchmark:
            f"{BENCH}/make_arf/{SOURCE_TAG}.tsv"
        conda:
            PRODUCTS_ENV
        params:
            settings=STAGE_SETTINGS["make_arf"],
        script:
            "../scripts/run_stage.py"

    rule group_spectrum:
        input:
            spectrum=PRODUCT["spectrum"],
            background=PRODUCT["background"],
            arf=PRODUCT["arf"],
            rmf=RMF,
        output:
            grouped=PRODUCT["grouped"],
        log:
            f"{LOGS}/group_spectrum/{SOURCE_TAG}.log",
        benchmark:
            f"{BENCH}/group_spectrum/{SOURCE_TAG}.tsv"
        conda:
            PRODUCTS_ENV
        params:
            settings=STAGE_SETTINGS["group_spectrum"],
        script:
            "../scripts/run_stage.py"
