"""The tool backends: HEASoft's tasks through heasoftpy (heasoft.py) beside the native
products of rassflow.products, and the registry that dispatches every product stage and fit
on the backend a run resolved (registry.py; resolution: rassflow.tools)."""
