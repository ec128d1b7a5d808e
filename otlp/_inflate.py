"""Decompress a gzip or deflate request body, in time linear in its size, up to a limit on what it inflates to.

Gzip allows members back to back (``cat a.gz b.gz``). zlib's decompressor stops at the end of each and hands back
the rest of its input as ``unused_data``, a copy: given the whole body, each member copied all that followed it, and
a 10 MB body of small members took minutes. The body is fed in slices of ``SLICE`` bytes instead, so that a member
costs a copy of at most one slice. Output is bounded as it is made, so a bomb stops at the limit.

>>> inflate(gzip.compress(b"a") + gzip.compress(b"b"), GZIP, limit=10)  # doctest: +SKIP
b'ab'
"""

from __future__ import annotations

import zlib

GZIP = 16 + zlib.MAX_WBITS
ZLIB = zlib.MAX_WBITS
RAW_DEFLATE = -zlib.MAX_WBITS
SLICE = 4096


class TooLarge(ValueError):
    """The body inflates to more than the limit."""


def inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """``data`` decompressed; ``TooLarge`` past ``limit`` bytes, ``ValueError`` for a body that is not valid."""
    out = bytearray()
    body = memoryview(data)
    offset = 0
    inflater = zlib.decompressobj(wbits)
    fed = False  # whether the current member has begun
    pending: bytes | memoryview = b""  # input handed over but not yet used (the rest of a slice)
    while pending or offset < len(body):
        if not pending:
            pending = body[offset : offset + SLICE]
            offset += len(pending)
        try:
            out += inflater.decompress(pending, limit + 1 - len(out))
        except zlib.error as exc:
            raise ValueError(f"body could not be decompressed: {exc}") from None
        fed = True
        if len(out) > limit:
            raise TooLarge(f"body inflates to more than {limit} bytes")
        if inflater.eof:  # the next member starts in what this one left
            pending = inflater.unused_data
            inflater = zlib.decompressobj(wbits)
            fed = False
        else:
            pending = inflater.unconsumed_tail
    if fed:
        raise ValueError("compressed body is truncated")
    return bytes(out)
