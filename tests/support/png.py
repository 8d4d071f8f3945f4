"""A minimal PNG reader, standard library only: 8-bit RGB or RGBA, not interlaced, filter types 0-4 (what
headless Chromium writes for a screenshot). Enough to look at the pixels of a screenshot in a test."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel at bit depth 8: RGB, RGBA


class PNGError(ValueError):
    """Not a PNG, or a kind of PNG this reader does not handle."""


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]  # one row of RGB bytes per line (alpha dropped)

    def colours(self) -> Counter[tuple[int, int, int]]:
        """How many pixels have each colour."""
        counts: Counter[tuple[int, int, int]] = Counter()
        for row in self.rows:
            counts.update(zip(row[0::3], row[1::3], row[2::3], strict=True))
        return counts


def _paeth(left: int, up: int, up_left: int) -> int:
    p = left + up - up_left
    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
    if pa <= pb and pa <= pc:
        return left
    return up if pb <= pc else up_left


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    if kind == 0:
        return line
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
    out = bytearray(line)
    if kind == 1:
        for i in range(bpp, len(out)):
            out[i] = (out[i] + out[i - bpp]) & 0xFF
    elif kind == 3:
        for i in range(len(out)):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(out)):
            if i >= bpp:
                out[i] = (out[i] + _paeth(out[i - bpp], prior[i], prior[i - bpp])) & 0xFF
            else:
                out[i] = (out[i] + prior[i]) & 0xFF
    else:
        raise PNGError(f"unknown filter type {kind}")
    return bytes(out)


def decode_png(data: bytes) -> Image:
    if not data.startswith(SIGNATURE):
        raise PNGError("not a PNG: the signature is missing")
    position, header, compressed = len(SIGNATURE), None, bytearray()
    while position < len(data):
        if position + 8 > len(data):
            raise PNGError("truncated chunk header")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length] or b"\0\0\0\0")
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise PNGError(f"chunk {kind!r} is truncated or fails its CRC")
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
    if header is None:
        raise PNGError("no IHDR chunk")
    width, height, depth, colour_type, _compression, _filter, interlace = header
    if depth != 8 or colour_type not in CHANNELS or interlace != 0:
        raise PNGError(f"unsupported PNG: bit depth {depth}, colour type {colour_type}, interlace {interlace}")
    bpp = CHANNELS[colour_type]
    stride = width * bpp
    raw = zlib.decompress(bytes(compressed))
    if len(raw) != height * (stride + 1):
        raise PNGError(f"{len(raw)} bytes of image data for {width}x{height}, expected {height * (stride + 1)}")
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prior = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prior, bpp)
        rows.append(prior if bpp == 3 else bytes(b for i, b in enumerate(prior) if i % 4 != 3))
    return Image(width, height, rows)
