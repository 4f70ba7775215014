"""Named queries for async connections: ``await aqueries.<file>.<query>(aconn, **params)``.

The same SQL files as :mod:`pydal_lite.queries`; multi-row selects are async iterators
(``async for row in aqueries.f.q(aconn)``), as aiosql makes them.
"""

from ._query_loader import lazy_module_attrs

__getattr__, __dir__ = lazy_module_attrs(is_async=True)
