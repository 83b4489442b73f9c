"""Benchmarks: this assistant against Rasa's own moodbot, measured side by side in one run."""
