# rassflow: spectral analysis of source samples in the ROSAT All-Sky Survey.
#
#   snakemake --cores 2 --configfile config/demo.yaml      # offline demo on a simulated survey
#
# The configuration is validated (and completed with defaults) before any job runs.

from snakemake.utils import min_version

min_version("9.0")

import sys

import rassflow.backends
import rassflow.config

# Jobs import the library from this checkout, also inside the --sdm conda environments
# (envs/*.yaml hold its dependencies, not rassflow itself).
rassflow.config.export_library_path(workflow.basedir)


configfile: workflow.source_path("config/config.yaml")


try:
    config = rassflow.config.validate(config)
except rassflow.config.ConfigError as error:
    raise WorkflowError(f"invalid configuration: {error}") from None

# The tool backends are resolved once per run, here (jobs, which re-read this file, reuse
# the answer): a HEASoft or XSPEC asked for but missing stops the run before any job, and
# every rule's params (and so every provenance stamp) see the resolved names, never 'auto'.
try:
    TOOLS, RESOLVED_NOW = rassflow.backends.resolve_tools_once(
        config["tools"]["products"], config["tools"]["fitter"]
    )
except (
    RuntimeError
) as error:  # BackendUnavailable, or a HEASoft that fails to report its version
    raise WorkflowError(f"tools: {error}") from None
config["tools"].update(products=TOOLS["products"], fitter=TOOLS["fitter"])
if RESOLVED_NOW:
    print(
        f"rassflow tools: products {TOOLS['products']}, fitter {TOOLS['fitter']} ("
        + ", ".join(f"{tool} {version}" for tool, version in TOOLS["versions"].items())
        + ")",
        *(f"rassflow tools: auto chose {note}" for note in TOOLS["notes"]),
        sep="\n",
        file=sys.stderr,
    )
# settings that change how jobs run, not what they make (service URLs, retries, chatter)
rassflow.config.export_runtime(config)


include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/catalog.smk"
include: "rules/archive.smk"
include: "rules/images.smk"
include: "rules/responses.smk"


# The per-source stages (rassflow.chain either way; the same files): batches of sources
# (auto: per skyfield, split so that all cores work; per_skyfield), or one job per source
# and stage (per_source).
if config["granularity"] == "per_source":

    include: "rules/regions.smk"
    include: "rules/spectra.smk"
    include: "rules/fitting.smk"

else:

    include: "rules/batch.smk"


include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets,
