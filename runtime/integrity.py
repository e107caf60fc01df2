"""The file digest that makes every changed byte of a model file detectable, without parsing protobuf.

The exporter writes, as the last ``metadata_props`` entry, the key ``logreg_onnx_sha256`` with a 64-character hex value:
the SHA-256 of the whole file **with that one entry's bytes removed**. In protobuf's wire format that entry is always
the same 88 bytes: ``0x72 0x56`` (field 14, length 86), ``0x0a 0x12`` + the 18-byte key, ``0x12 0x40`` + the 64-byte
value.
So a reader in any language checks a file by finding those bytes (exactly once), cutting them out, and hashing the rest:
no protobuf library needed. Any flipped, cut or added byte anywhere else changes the hash; one inside the entry breaks
the entry. The digest protects against damage, not against an attacker, who can recompute it.
"""

from __future__ import annotations

import hashlib
import re

from .contract import KEY_DIGEST
from .errors import IntegrityError

_KEY = KEY_DIGEST.encode()
_VALUE_BYTES = 64
_ENTRY = bytes([0x0A, len(_KEY)]) + _KEY + bytes([0x12, _VALUE_BYTES])
PREFIX = bytes([(14 << 3) | 2, len(_ENTRY) + _VALUE_BYTES]) + _ENTRY  # field 14 (metadata_props), length-delimited
PLACEHOLDER = "0" * _VALUE_BYTES


def _locate(data: bytes) -> int:
    """Offset of the digest entry; raises :class:`IntegrityError` if it is absent or appears more than once."""
    first = data.find(PREFIX)
    if first < 0:
        raise IntegrityError("no integrity digest")
    if data.find(PREFIX, first + 1) >= 0:
        raise IntegrityError("more than one integrity digest")
    return first


def digest(data: bytes) -> str:
    """SHA-256 (hex) of ``data`` without its digest entry: the value the entry must hold."""
    start = _locate(data)
    end = start + len(PREFIX) + _VALUE_BYTES
    return hashlib.sha256(data[:start] + data[end:]).hexdigest()


def seal(data: bytes) -> bytes:
    """Fill the placeholder digest entry of a serialized model (written with :data:`PLACEHOLDER`) with the digest."""
    start = _locate(data) + len(PREFIX)
    if data[start : start + _VALUE_BYTES] != PLACEHOLDER.encode():
        raise ValueError("seal() expects the digest entry to hold the placeholder value")
    return data[:start] + digest(data).encode() + data[start + _VALUE_BYTES :]


def verify(data: bytes) -> str:
    """Return the digest if ``data`` carries a matching one; raise :class:`IntegrityError` saying what is wrong."""
    start = _locate(data) + len(PREFIX)
    stored = data[start : start + _VALUE_BYTES]
    expected = digest(data)
    if not re.fullmatch(rb"[0-9a-f]{64}", stored) or stored.decode() != expected:
        raise IntegrityError("its bytes do not match its integrity digest")
    return expected
