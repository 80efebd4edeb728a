from rassflow.archive.coverage import (
    field_list_coverage,
    local_coverage,
    members_table,
    rassmaster_fields,
)
from rassflow.catalog.crossmatch import TAP_URL, match_sample, read_prepared_sample
from rassflow.catalog.motion import at_epochs, with_rass_positions
from rassflow.catalog.sample import read_table, write_sample
from rassflow.config import runtime
from rassflow.logs import logged
from rassflow.plan import write_skyfield_members

params = snakemake.params
with logged(snakemake.log[0]) as log:
    stars = read_prepared_sample(snakemake.input.sample, params.sample)
    motion = params.sample["pm_ra_column"] and params.sample["pm_dec_column"]
    if motion:
        stars = with_rass_positions(
            stars,
            params.sample["pm_ra_column"],
            params.sample["pm_dec_column"],
            params.sample["epoch"],
            str(snakemake.input.sample),
        )
    tap_url = runtime("crossmatch.tap_url")
    rxs = None if params.crossmatch["source"] == "heasarc" else read_table(snakemake.input.rxs)
    if rxs is None:
        log.info(
            "matching %d sources with %s at %s",
            len(stars),
            params.crossmatch["table"],
            tap_url or TAP_URL,
        )
    table, neighbours = match_sample(
        stars,
        params.crossmatch,
        rxs,
        params.neighbour_radius_arcsec,
        runtime("crossmatch.chunk_size", 5000),
        tap_url,
    )
    position = ("ra_rass", "dec_rass") if motion else ("ra", "dec")
    if params.archive_root:  # a local (or simulated) archive: its own exposure maps
        coverage = local_coverage(stars, params.archive_root, *position)
    else:  # HEASARC: the RASS field list
        coverage = field_list_coverage(stars, rassmaster_fields(tap_url), *position)
    members = members_table(stars, table, coverage)
    if motion and params.archive_root:  # every skyfield's own epoch
        from rassflow.archive.skyfield import archive_epoch

        covered = members["status"] == "covered"
        epochs = {
            seq: archive_epoch(params.archive_root, seq)
            for seq in members.loc[covered, "seq_id"].unique()
        }
        moved = at_epochs(members[covered], members.loc[covered, "seq_id"].map(epochs).to_numpy())
        members.loc[covered, ["ra_rass", "dec_rass", "epoch_rass"]] = moved[
            ["ra_rass", "dec_rass", "epoch_rass"]
        ].to_numpy()
        refined = members.set_index("id_name")
        for column in ("ra_rass", "dec_rass", "epoch_rass"):
            table[column] = table["id_name"].map(refined[column]).to_numpy(float)
    log.info(
        "%d of %d sources matched in %d skyfields; %d members covered by the survey; "
        "%d neighbours within %g arcsec",
        len(table),
        len(members),
        table["seq_id"].nunique(),
        int((members["status"] == "covered").sum()),
        len(neighbours),
        params.neighbour_radius_arcsec,
    )
    write_sample(table, snakemake.output.table)
    write_sample(members, snakemake.output.members)
    write_sample(neighbours, snakemake.output.neighbours)
    write_skyfield_members(members, table, neighbours, params.centre, snakemake.output.skyfields)
