"""Lava Processes of the Lava backend, one package per Process.

Lava's compiler imports every module in a Process's folder while it looks for
ProcessModels, so each Process lives in a package that holds nothing but its
``process.py`` and ``models.py``. Runs in the Lava environment only (no torch).
"""
