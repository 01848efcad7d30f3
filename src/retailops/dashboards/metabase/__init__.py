"""Metabase dashboards as code: spec, client wrapper, plan and apply.

``spec`` reads and checks what should exist, ``client`` talks to Metabase (``metabase-api`` as
the transport), ``provision`` plans and applies the difference, ``dataset`` connects from Kedro.
"""

from retailops.dashboards.metabase.client import MetabaseClient
from retailops.dashboards.metabase.errors import MetabaseError, MetabaseSpecError
from retailops.dashboards.metabase.provision import Change, ProvisioningReport, provision
from retailops.dashboards.metabase.spec import (
    DashboardSpec,
    DatabaseConnection,
    load_connection,
    load_spec,
)

__all__ = ["Change", "DashboardSpec", "DatabaseConnection", "MetabaseClient", "MetabaseError",
           "MetabaseSpecError", "ProvisioningReport", "load_connection", "load_spec", "provision"]
