"""The workflow editor panel: a NodeGraphQt canvas over the workflow file model."""
