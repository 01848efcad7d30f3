"""The kinds of bad input RetailOps reports to its users.

Each is raised where the problem is found and caught once, at the command-line edge
(``retailops.cli``), where it is printed as a single line and turned into a non-zero exit.
"""


class RetailOpsError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""

    exit_code = 2


class InvalidParameterError(RetailOpsError):
    """A run parameter is unknown, malformed or out of the supported range."""


class LakeUnavailableError(RetailOpsError):
    """The lake root cannot be reached or written (missing folder rights, bucket, credentials)."""


class CorruptPartitionError(RetailOpsError):
    """A landed file does not match its manifest or the contract's columns."""


class LakeConfigurationError(RetailOpsError):
    """The lake was built with another simulation configuration or generator version."""


class TransformError(RetailOpsError):
    """dbt failed to build a model or a data test failed."""


class ValidationError(RetailOpsError):
    """The run's reconciliation found numbers that do not add up."""
