"""Unified profiles: one document per customer from the golden record and the standardized records."""
