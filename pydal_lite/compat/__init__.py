"""Drop-in classes for code written against the seed systems' own data layers.

``pydal_lite.compat.agent_runtime.Database`` is seed 001's ``Database`` (its constructor,
methods and return shapes) backed by :mod:`pydal_lite.agent_runtime`: an application
switches by changing one import.
"""
