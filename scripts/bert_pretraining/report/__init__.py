"""The report's statistics and plots, one module per stage."""
