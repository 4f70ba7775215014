"""Named queries for sync connections: ``queries.<file>.<query>(conn, **params)``.

Loaded once, on first use, from the ``queries/`` folder. Multi-row selects return lists.
"""

from ._query_loader import lazy_module_attrs

__getattr__, __dir__ = lazy_module_attrs(is_async=False)
