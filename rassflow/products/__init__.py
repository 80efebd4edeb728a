"""Per-source products: regions, spectra, ARFs, grouped spectra (and skyfield images)."""
