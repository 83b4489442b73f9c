"""Knowledge base: documents, passages, the index and search over it."""
