# The RMF and SPECRESP file from the CALDB (local, or remote over HTTPS; stored once and
# referenced by every spectrum) and an ARF per source.


rule get_responses:
    input:
        caldb_index,
    output:
        rmf=RMF,
        specresp=SPECRESP,
    params:
        # a remote CALDB's URL and the retry settings are read from the config in the job,
        # so that switching a mirror does not re-run every response and fit
        root=caldb_root(),
        remote=caldb_remote(),
        mirror=f"{R}/caldb/remote",
        expression=config["caldb"]["rmf_expression"],
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/get_responses.log",
    benchmark:
        f"{BENCH}/get_responses.tsv"
    script:
        "../scripts/get_responses.py"


if caldb_remote():

    # a network job: it stays on the machine that runs Snakemake
    localrules:
        get_responses,


rule make_arf:
    input:
        spectrum=f"{STEM}{SUFFIX['spectrum']}",
        rmf=RMF,
        specresp=SPECRESP,
    output:
        arf=f"{STEM}{SUFFIX['arf']}",
    params:
        backend=config["tools"]["products"],
        method=config["responses"]["arf_method"],
        provenance=provenance("rassflow.arf", "responses", "caldb"),
    conda:
        PRODUCTS_ENV
    log:
        f"{LOGS}/make_arf/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/make_arf/{SOURCE_TAG}.tsv"
    script:
        "../scripts/make_arf.py"


rule group_spectrum:
    input:
        spectrum=f"{STEM}{SUFFIX['spectrum']}",
        background=f"{STEM}{SUFFIX['background']}",
        arf=f"{STEM}{SUFFIX['arf']}",
        rmf=RMF,
    output:
        grouped=f"{STEM}{SUFFIX['grouped']}",
    params:
        backend=config["tools"]["products"],
        min_counts=config["grouping"]["min_counts"],
        provenance=provenance("rassflow.grouping", "grouping"),
    conda:
        PRODUCTS_ENV
    log:
        f"{LOGS}/group_spectrum/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/group_spectrum/{SOURCE_TAG}.tsv"
    script:
        "../scripts/group_spectrum.py"
