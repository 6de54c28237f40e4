"""The ML core: datasets, rankers, metrics and evaluation. Never imports Django."""
