"""Stage pipelines (data, augmentation, tuning, training, evaluation) and their composition."""
