"""The ways provisioning Metabase can fail, each reported as one line at the command-line edge."""

from retailops.errors import RetailOpsError


class MetabaseError(RetailOpsError):
    """Metabase refused or could not serve a request (credentials, unknown database, rejected card)."""


class MetabaseSpecError(MetabaseError):
    """The dashboard spec in ``conf/`` is inconsistent; found before any request is sent."""
