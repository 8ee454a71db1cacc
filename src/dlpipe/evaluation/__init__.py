"""Evaluation stage: test metrics, per-class report, confusion matrix and training curves."""
