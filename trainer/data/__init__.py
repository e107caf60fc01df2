"""Reading tables (CSV, NumPy, pandas) and encoding their columns: cell typing, text levels, imputation."""
