"""RetailOps: an open retail-operations data platform."""
__version__ = "0.1.0"
