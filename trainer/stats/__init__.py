"""Statistics of a fit: metrics, calibration and thresholds, the coefficient table, separation checks."""
