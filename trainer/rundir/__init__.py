"""The run directory: writing model, metrics and coefficients, plots, and the HTML report."""
