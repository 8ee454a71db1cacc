"""Stage pipelines (data, augmentation, tuning, training, evaluation, registry), their composition
per parameter block, and batch prediction."""
