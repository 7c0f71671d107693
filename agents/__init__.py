"""Chimera: agents."""
