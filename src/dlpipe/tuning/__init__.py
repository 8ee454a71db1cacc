"""Tuning stage: Optuna studies whose objective reuses the shared fit function."""
