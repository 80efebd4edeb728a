"""The sample: catalog files and VizieR, and the cross-match with 2RXS."""
