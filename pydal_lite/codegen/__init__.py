"""``python -m pydal_lite.codegen``: typed Python for every named query in ``queries/``.

The generator migrates a scratch database, prepares each query there, asks the server
for its parameter and result types (see :mod:`.describe`, :mod:`.model`) and writes
``pydal_lite/sql/``, ``pydal_lite/queries/`` and ``pydal_lite/aqueries/``
(:mod:`.render`). ``--check`` compares instead of writing.
"""

from .generate import Generated, generate

__all__ = ["Generated", "generate"]
