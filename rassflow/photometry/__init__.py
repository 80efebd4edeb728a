"""Forced aperture photometry: Bayesian count rates, upper limits, hardness ratios, fluxes."""
