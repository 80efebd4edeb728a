from rassflow.logs import logged
from rassflow.simulate.caldb import write_caldb

with logged(snakemake.log[0]):
    write_caldb(snakemake.output.caldb)
