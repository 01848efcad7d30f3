"""Errors the Favorita study reports to its user as one line."""

from retailops.errors import RetailOpsError


class FavoritaInputError(RetailOpsError):
    """The download folder lacks a file the run cannot do without, or a file cannot be parsed."""


class FavoritaWriteError(RetailOpsError):
    """The study cannot write under ``favorita.out_dir`` (a full disk, no rights, a folder in the way).

    Kept apart from :class:`FavoritaInputError` so a failed write is never blamed on the download.
    """
