"""Persistence: the storage contract (`base`) and its SQL implementation (`sql`)."""
