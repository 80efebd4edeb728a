"""Spectral fitting backends.

Each backend module turns a grouped source spectrum, its background and its responses into
one JSON-ready dict of fit results. Backends import their fitter only when loaded, so that
importing this package stays cheap.
"""

FITTERS = ("sherpa",)


def fit_source(spectrum, background, rmf, arf, settings, source_id, fitter: str = "sherpa"):
    """Fit ``source_id``'s spectrum with the named fitter backend (see its ``fit_source``)."""
    if fitter == "sherpa":
        from .sherpa import fit_source as backend_fit
    else:
        raise ValueError(f"unknown fitter {fitter!r}; known fitters: {', '.join(FITTERS)}")
    return backend_fit(spectrum, background, rmf, arf, settings, source_id)
