# Skyfield files: downloaded from the archive (archive.source heasarc), then expanded once
# from .Z or plain files into the workflow's cache.


# Network jobs stay on the machine that runs Snakemake (compute nodes may have no network).
localrules:
    download_skyfield,


rule download_skyfield:
    output:
        record=skyfield_download("{seq}"),
    log:
        f"{LOGS}/download_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/download_skyfield/{{seq}}.tsv"
    conda:
        "../envs/python.yaml"
    params:
        # what is fetched; where from and how often to retry are read from the config in the
        # job, so that changing them does not re-run the downloads and all that follows
        root=lambda wildcards, output: os.path.dirname(output.record),
        kinds=["bas", "mex", "im1", *config["archive"]["extra_files"]],
    script:
        "../scripts/download_skyfield.py"


rule prepare_skyfield:
    input:
        archive_input,
    output:
        bas=f"{SKYFIELD}_bas.fits",
        mex=f"{SKYFIELD}_mex.fits",
        im1=f"{SKYFIELD}_im1.fits",
    log:
        f"{LOGS}/prepare_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/prepare_skyfield/{{seq}}.tsv"
    conda:
        "../envs/python.yaml"
    params:
        root=archive_root(),
    script:
        "../scripts/prepare_skyfield.py"
