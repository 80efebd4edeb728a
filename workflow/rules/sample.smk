# The sample (from VizieR, a file or the simulated survey), matched with 2RXS locally or on
# HEASARC's TAP service: the checkpoint that fixes the per-source targets.


# Network jobs stay on the machine that runs Snakemake (compute nodes may have no network).
localrules:
    fetch_sample,


rule fetch_sample:
    output:
        table=vizier_sample(),
    log:
        f"{LOGS}/fetch_sample.log",
    benchmark:
        f"{BENCH}/fetch_sample.tsv"
    conda:
        "../envs/python.yaml"
    params:
        # the content: a mirror (sample.vizier.server) is read from the config in the job,
        # so that switching it does not fetch again
        catalog=config["sample"]["vizier"]["catalog"],
        table=config["sample"]["vizier"]["table"],
    script:
        "../scripts/fetch_sample.py"


checkpoint match_sample:
    input:
        sample=sample_input(),
        rxs=rxs_input(),
        archive=match_archive_input(),
    output:
        table=SAMPLE,
        members=MEMBERS,
        neighbours=NEIGHBOURS,
        # members and neighbours per skyfield, for the photometry jobs
        skyfields=directory(LAYOUT.skyfield_members),
    log:
        f"{LOGS}/match_sample.log",
    benchmark:
        f"{BENCH}/match_sample.tsv"
    conda:
        "../envs/python.yaml"
    params:
        sample=rassflow.plan.sample_settings(config),
        crossmatch=rassflow.plan.matching_settings(config),
        neighbour_radius_arcsec=rassflow.plan.neighbour_radius_arcsec(config),
        centre=config["regions"]["centre"],
        # a local archive gives every skyfield's coverage and epoch; None: HEASARC's field list
        archive_root=match_archive_root,
    script:
        "../scripts/match_sample.py"


if config["crossmatch"]["source"] == "heasarc":

    localrules:
        match_sample,
