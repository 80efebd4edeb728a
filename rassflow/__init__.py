"""rassflow: spectral analysis of source samples in the ROSAT All-Sky Survey.

One module per workflow stage; the Snakemake scripts under ``workflow/scripts/`` only
call functions defined here.
"""

__version__ = "0.1.0"
