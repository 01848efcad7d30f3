"""Errors the Favorita study reports to its user as one line."""

from retailops.errors import RetailOpsError


class FavoritaInputError(RetailOpsError):
    """The download folder lacks a file the run cannot do without, or a file cannot be parsed."""
