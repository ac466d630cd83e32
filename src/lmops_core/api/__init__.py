"""The admin API: a thin HTTP layer over the governance service.

Every rule lives below the :class:`~lmops_core.workspace.Workspace` facade; this
package authenticates the caller, checks the route's role rule, acts as the
caller and maps domain errors to HTTP statuses.
"""

from lmops_core.api.app import create_app, serve

__all__ = ["create_app", "serve"]
