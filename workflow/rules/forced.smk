# Forced photometry of every covered sample member, matched with 2RXS or not
# (rassflow.photometry.forced): one job per batch of skyfield slices reads each event list
# and exposure map once and measures all of its members with array operations, into one
# table. The batches are the plan's (rassflow.plan), the same in every granularity.


rule measure_photometry:
    input:
        unpack(photometry_files),  # events, expmap, members, neighbours: per skyfield
        sample=SAMPLE,  # params read the sample (the checkpoint)
        psf=psf_calibration(),  # the survey PSF ([]: a described one)
        rmf=RMF,
        specresp=SPECRESP,
    output:
        table=LAYOUT.photometry_batch,
    log:
        f"{LOGS}/measure_photometry/{BATCH_TAG}.log",
    benchmark:
        f"{BENCH}/measure_photometry/{BATCH_TAG}.tsv"
    conda:
        "../envs/python.yaml"
    resources:
        mem_mb=2000,
    params:
        slices=photometry_slices,
        settings=PHOTOMETRY_SETTINGS,
    script:
        "../scripts/measure_photometry.py"
