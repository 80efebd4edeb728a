from rassflow.backends.registry import make_images
from rassflow.config import runtime
from rassflow.logs import logged
from rassflow.status import run_guarded

with logged(snakemake.log[0]):
    images = snakemake.params.images
    keys = [(lo, hi, b) for lo, hi in images["bands_keV"] for b in images["binnings"]]
    run_guarded(
        snakemake,
        "make_images",
        lambda: make_images(
            snakemake.params.backend,
            snakemake.input.events,
            snakemake.wildcards.seq,
            images["bands_keV"],
            images["binnings"],
            dict(zip(keys, snakemake.output, strict=True)),
            snakemake.params.provenance,
            chatter=runtime("tools.chatter", 0),
        ),
    )
