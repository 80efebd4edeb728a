# The survey PSF measured on the run's own bright isolated matched sources (stacked radial
# profiles fit with a mixture of the two published descriptions), read by every job that
# uses the PSF: the aperture correction, the deblending and the forced photometry.


rule calibrate_psf:
    input:
        sample=SAMPLE,  # params read the plan (the checkpoint)
        events=psf_calibration_events,
    output:
        LAYOUT.psf_calibration,
    log:
        f"{LOGS}/calibrate_psf.log",
    benchmark:
        f"{BENCH}/calibrate_psf.tsv"
    conda:
        "../envs/python.yaml"
    resources:
        mem_mb=2000,
    params:
        calibrators=psf_calibrators,
        regions=config["regions"],
        settings=config["responses"]["psf_calibration"],
        provenance=provenance("rassflow.calibration.psf_stack", "regions", "responses"),
    script:
        "../scripts/calibrate_psf.py"
