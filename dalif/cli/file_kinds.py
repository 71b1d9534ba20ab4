"""What kind of file a user gave, when it is not the kind a command reads.

A checkpoint handed to `simulate`, or a NIR file handed to `export`, used to end in the
reader's own complaint ("unpickling refused … Unsupported operand 72", "file signature not
found"), which says what failed, not what to do. After a reader refuses a file, ``sniff``
looks at its first bytes (and, for HDF5, the names of its top-level groups) to say what it
is, and ``wrong_kind`` the command that takes it. Only files a reader already refused are
sniffed, so nothing here touches the path of a valid input or the budgeted readers' checks.
"""

from __future__ import annotations

import os
from pathlib import Path

_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP = b"PK\x03\x04"

# kind → (what it is, in words; what to do with it)
_KINDS = {
    "nir": ("a NIR file", "give it to `dalif simulate`, `dalif compare` or `dalif energy`"),
    "netx": ("a lava-dl netx file", "turn it into a NIR file with `dalif import {path} --out M.nir`"),
    "checkpoint": ("a PyTorch checkpoint (zip)",
                   "export it to a NIR file with `dalif export {path} --out M.nir`"),
    "pickle": ("a pickle (legacy torch.save format)",
               "`dalif` reads checkpoints written by `dalif train` only"),
    "onnx": ("an ONNX model", "`dalif` runs NIR files (`--backend onnx` builds its ONNX graph "
                              "from the NIR file); export the checkpoint with `dalif export`"),
    "json": ("a JSON file", "it may be a RESULT.json or a chip profile (`dalif energy --chip`)"),
}


def sniff(path: str | os.PathLike) -> str | None:
    """The kind of the regular file ``path`` (a key of the table above), or None when its
    first bytes say nothing we know (or it cannot be read)."""
    path = Path(path)
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head.startswith(_HDF5):
        return _hdf5_kind(path)
    if head.startswith(_ZIP):
        return "checkpoint"
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocol 2-5
        return "pickle"
    if path.suffix.lower() == ".onnx" and head[:1] == b"\x08":  # protobuf field 1: ir_version
        return "onnx"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    return None


def _hdf5_kind(path: Path) -> str | None:
    """nir (a /node group) or netx (a /layer group); None for another HDF5 file or one that
    does not open (the reader's own message says more). Only the root group's member names
    are read."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            names = set(f.keys())
    except (OSError, ValueError):
        return None
    if "node" in names:
        return "nir"
    if "layer" in names:
        return "netx"
    return None


def wrong_kind(path: str | os.PathLike, expected: str) -> str | None:
    """One line for a file that is not ``expected`` (a key of the table above): what it is,
    what it should be, and the command that takes it; None when it is not a kind we know
    (or is the expected kind: then the reader's own message is the one to show)."""
    kind = sniff(path)
    if kind is None or kind == expected:
        return None
    what, todo = _KINDS[kind]
    wanted = _KINDS[expected][0]
    return f"{path}: this is {what}, not {wanted}: {todo.format(path=path)}"


__all__ = ["sniff", "wrong_kind"]
