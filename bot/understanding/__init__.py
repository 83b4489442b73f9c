"""Understanding what a person means: which path a message takes, follow-ups, other agencies."""
