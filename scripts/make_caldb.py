from pathlib import Path

from rassflow.caldb import write_caldb
from rassflow.logs import logged

with logged(snakemake.log[0]):
    # output.index is ROOT/data/rosat/pspc/caldb.indx
    write_caldb(Path(snakemake.output.index).parents[3])
