"""Answering questions from what the agency has published.

Documents, passages, the index and search over it (sources, ingest, chunking, index, retriever,
qdrant_store); what a reply says and cites (answering); the agency's service items and their fields
(service_items, item_recognizer); and service, which puts them together into one reply for a
question. published_index.get_service is the process's configured service: it builds on service,
never the other way round.
"""
