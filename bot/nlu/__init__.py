"""Custom Rasa NLU components (registered with Rasa when their module is imported by config.yml)."""
