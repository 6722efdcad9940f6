"""Predictors of accuracy and latency."""
