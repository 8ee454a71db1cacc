"""From a trained run to predictions: the logged MLflow model, the registry's evaluation gate,
the HTTP server and the inputs of batch prediction."""
