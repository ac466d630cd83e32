"""Datasets: shapes, readers, ingestion and dataset cards."""
