"""What a paper reads: the results table and the figures."""
