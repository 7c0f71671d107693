"""Chimera: infra."""
