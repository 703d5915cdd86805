"""The scope classifier: features, model, training, thresholds and evaluation (see docs/model.md)."""
