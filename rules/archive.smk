# Skyfield files: expanded once from the archive (.Z or plain) into the workflow's cache.


rule prepare_skyfield:
    input:
        archive_input,
    output:
        bas=f"{SKYFIELD}_bas.fits",
        mex=f"{SKYFIELD}_mex.fits",
        im1=f"{SKYFIELD}_im1.fits",
    params:
        root=archive_root(),
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/prepare_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/prepare_skyfield/{{seq}}.tsv"
    script:
        "../scripts/prepare_skyfield.py"
