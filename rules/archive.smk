# Skyfield files: expanded once from the archive (.Z or plain) into the workflow's cache.


def archive_input(wildcards):
    # A local archive is not declared as input: a missing skyfield then fails its own job
    # with a message naming it, and --keep-going finishes the others.
    return [f"{SIMULATED}/archive"] if config["archive"]["source"] == "simulated" else []


rule prepare_skyfield:
    input:
        archive_input,
    output:
        bas=SKYFIELD + "_bas.fits",
        mex=SKYFIELD + "_mex.fits",
        im1=SKYFIELD + "_im1.fits",
    params:
        root=archive_root(),
    log:
        f"{LOGS}/prepare_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/prepare_skyfield/{{seq}}.tsv"
    script:
        "../scripts/prepare_skyfield.py"
