# Images per skyfield x band x binning (one job per skyfield reads its events once).


rule make_images:
    input:
        events=f"{SKYFIELD}_bas.fits",
    output:
        [
            IMAGE.replace("{lo}", str(lo)).replace("{hi}", str(hi)).replace("{binning}", str(b))
            for lo, hi in config["images"]["bands_keV"]
            for b in config["images"]["binnings"]
        ],
    params:
        images=config["images"],
        backend=config["tools"]["products"],
        provenance=provenance("rassflow.products.images", "images"),
    conda:
        PRODUCTS_ENV
    log:
        f"{LOGS}/make_images/{{seq}}.log",
    benchmark:
        f"{BENCH}/make_images/{{seq}}.tsv"
    script:
        "../scripts/make_images.py"
