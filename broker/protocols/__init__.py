"""Console protocols: a pure codec and a thin async transport each."""
