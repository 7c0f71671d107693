"""Chimera: topics."""
