# rassflow: spectral analysis of source samples in the ROSAT All-Sky Survey.
#
#   snakemake --cores 2 --configfile config/demo.yaml      # offline demo on a simulated survey
#
# The configuration is validated (and completed with defaults) before any job runs.

from snakemake.utils import min_version

min_version("9.0")

import rassflow.config


configfile: workflow.source_path("config/config.yaml")


try:
    config = rassflow.config.validate(config)
except rassflow.config.ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/catalog.smk"
include: "rules/archive.smk"
include: "rules/images.smk"
include: "rules/regions.smk"
include: "rules/spectra.smk"
include: "rules/responses.smk"
include: "rules/fit.smk"
include: "rules/batch.smk"
include: "rules/report.smk"


rule all:
    input:
        all_targets,
    default_target: True
