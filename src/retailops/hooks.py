"""Project hooks (filled in by the ingest work: parameter checks before any node runs)."""


class RetailOpsHooks:
    """Hooks registered in ``settings.py``."""
