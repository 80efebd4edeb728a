from rassflow.archive import read_events
from rassflow.logs import logged
from rassflow.regions import source_regions, write_region_files

with logged(snakemake.log[0]):
    cfg = snakemake.params.regions
    ra, dec = snakemake.params.centre
    events = read_events(snakemake.input.events)
    regions = source_regions(
        events.wcs(),
        ra,
        dec,
        cfg["source_radius_arcmin"],
        cfg["background_inner_factor"],
        cfg["background_outer_factor"],
        events.pixel_scale_deg,
    )
    write_region_files(
        regions,
        ra,
        dec,
        cfg["source_radius_arcmin"],
        cfg["background_inner_factor"],
        cfg["background_outer_factor"],
        dict(snakemake.output.items()),
    )
