"""The policy registry, plug-in discovery and reference data (GP practices, services)."""
