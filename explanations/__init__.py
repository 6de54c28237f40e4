"""NL profiles, critiques and grounded explanations. Never imports Django."""
