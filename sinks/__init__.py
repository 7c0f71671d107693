"""Chimera: sinks."""
