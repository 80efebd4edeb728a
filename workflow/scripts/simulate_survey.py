from pathlib import Path

from rassflow.logs import logged
from rassflow.simulate.survey import simulate_survey

with logged(snakemake.log[0]):
    simulate_survey(Path(snakemake.output.sample).parent, dict(snakemake.params.settings))
