"""Experiments: a claim of the toolbox ("dropout reduces overfitting") tested by training arms,
configurations of the project's family blocks, side by side over several seeds, and judged from
the measured numbers."""
