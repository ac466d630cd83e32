"""Governance: roles, tokens, the promotion workflow."""
