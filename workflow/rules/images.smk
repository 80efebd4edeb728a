# Images per skyfield x band x binning (one job per skyfield reads its events once).


rule make_images:
    input:
        events=f"{SKYFIELD}_bas.fits",
    output:
        [
            IMAGE.replace("{lo}", str(lo))
            .replace("{hi}", str(hi))
            .replace("{binning}", str(b))
            for lo, hi in config["images"]["bands_keV"]
            for b in config["images"]["binnings"]
        ],
    log:
        f"{LOGS}/make_images/{{seq}}.log",
    benchmark:
        f"{BENCH}/make_images/{{seq}}.tsv"
    conda:
        PRODUCTS_ENV
    params:
        images=config["images"],
        backend=config["tools"]["products"],
        provenance=provenance("rassflow.products.images", "images"),
    script:
        "../scripts/make_images.py"
