"""Training stage: distribution strategy, callbacks and the one shared fit function."""
