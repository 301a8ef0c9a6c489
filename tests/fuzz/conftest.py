"""The fuzz stage's own world: a database, users, orgs and resources made for it alone."""

from tests.server.conftest import msp  # noqa: F401  (bootstraps MSPOrg in this module's database)
