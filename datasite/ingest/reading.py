"""Reading a file within a decode budget: the header is checked before any pixel is decoded.

``rows x columns x frames x samples`` must stay within ``max_pixels``. Pixel data is deferred
(read only after the header passed). Deflated files are inflated in bounded steps: first just
enough for the header, then at most what the header declares, so a small file claiming
20000 x 20000 pixels costs milliseconds and no memory. Compressed pixel data must carry the
size the header states (JPEG / JPEG-LS / JPEG 2000 frame headers are read first), so a decoder
is never asked to allocate more than the budget. PNG/JPEG files are sized before loading.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_fragments
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from datasite.ingest import pixels
from datasite.ingest.records import Rejected, RejectReason

Array = NDArray[Any]

DEFER_BYTES = 1 << 20  # values above this (pixel data) are read only when needed
HEAD_STEPS = (1 << 18, 1 << 21, 1 << 23)  # inflated bytes tried for a deflated header
HEADER_SLACK = 1 << 20  # inflated bytes allowed beyond the declared pixel data
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
TRUNCATION_HINTS = ("truncat", "end of file", "eof", "less than expected", "fewer bytes")
DEFLATE_UID = str(DeflatedExplicitVRLittleEndian).encode()
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}  # F7: JPEG-LS


def truncation(err: BaseException) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    return isinstance(err, EOFError) or any(hint in text for hint in TRUNCATION_HINTS)


def _parse_failed(err: Exception) -> Rejected:
    reason = RejectReason.TRUNCATED if truncation(err) else RejectReason.UNREADABLE
    return Rejected(reason, f"{type(err).__name__}: {err}")


def declared_pixels(ds: Any) -> int:
    """Pixels the header says the data holds (all frames and samples)."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return rows * cols * max(frames, 1) * int(ds.get("SamplesPerPixel", 1) or 1)


def declared_bytes(ds: Any) -> int:
    return declared_pixels(ds) * max(1, (int(ds.get("BitsAllocated", 16) or 16) + 7) // 8)


def check_budget(ds: Any, max_pixels: int) -> None:
    pixels_ = declared_pixels(ds)
    if pixels_ > max_pixels:
        raise Rejected(
            RejectReason.TOO_LARGE,
            f"{ds.get('Rows')} x {ds.get('Columns')} x {ds.get('NumberOfFrames', 1) or 1} "
            f"frame(s) = {pixels_:,} pixels > --max-pixels {max_pixels:,}",
        )


def _deflated(path: Path) -> bool:
    with path.open("rb") as handle:
        return DEFLATE_UID in handle.read(4096)


def read_dicom(path: Path, force: bool, max_pixels: int) -> Any:
    """The dataset with its pixel data deferred, or None when ``path`` is not DICOM."""
    if _deflated(path):
        return read_deflated(path, max_pixels)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=force, defer_size=DEFER_BYTES)
    except InvalidDicomError:
        return None
    except Exception as err:  # noqa: BLE001 - any parser failure is this file's problem
        raise _parse_failed(err) from None
    ended = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    if ended:  # pydicom keeps what it read before the cut and only warns
        raise Rejected(RejectReason.TRUNCATED, ended[0])
    return ds


def _inflate(compressed: bytes, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` inflated bytes; True when the stream has more beyond them."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(compressed, limit)
    except zlib.error as err:
        raise Rejected(RejectReason.TRUNCATED, f"deflate stream: {err}") from None
    return out, bool(inflater.unconsumed_tail)


def _dataset(body: bytes, meta: FileMetaDataset, header_only: bool) -> tuple[Dataset, int]:
    buffer = DicomBytesIO(body)
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    stop = (lambda tag, vr, length: tag == 0x7FE00010) if header_only else None
    ds = read_dataset(buffer, is_implicit_VR=False, is_little_endian=True, stop_when=stop)
    inflated = FileMetaDataset(meta)
    inflated.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = inflated
    ds.set_original_encoding(False, True)
    return ds, buffer.tell()


def _header(compressed: bytes, meta: FileMetaDataset) -> tuple[Dataset, int]:
    """Inflate just enough of the stream to parse every element before the pixel data."""
    for step in HEAD_STEPS:
        head, more = _inflate(compressed, step)
        try:
            ds, stop = _dataset(head, meta, header_only=True)
        except Exception:
            if more and step != HEAD_STEPS[-1]:
                continue
            raise
        if not more or head[stop : stop + 4] == PIXEL_DATA_TAG:
            break
    return ds, stop


def read_deflated(path: Path, max_pixels: int) -> Dataset:
    """A deflated file read in bounded steps: header, budget check, then the rest."""
    try:
        with path.open("rb") as handle:
            read_preamble(handle, False)
            meta = _read_file_meta_info(handle)
            compressed = handle.read()
        ds, stop = _header(compressed, meta)
        check_budget(ds, max_pixels)
        body, more = _inflate(compressed, stop + declared_bytes(ds) + HEADER_SLACK)
        if more:
            raise Rejected(RejectReason.TOO_LARGE, "inflates beyond the size its header declares")
        return _dataset(body, meta, header_only=False)[0]
    except Rejected:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure is this file's problem
        raise _parse_failed(err) from None


def _codestream_size(fragment: bytes) -> tuple[int, int] | None:
    """``(rows, columns)`` from a JPEG, JPEG-LS or JPEG 2000 frame header, if found."""
    siz = fragment.find(b"\xff\x51", 0, 4096)
    if fragment[:2] == b"\xff\x4f" or (siz > 0 and b"jp2c" in fragment[:4096]):
        if siz < 0 or len(fragment) < siz + 14:
            return None
        xsiz, ysiz, xo, yo = struct.unpack(">IIII", fragment[siz + 6 : siz + 22])
        return ysiz - yo, xsiz - xo
    at = 2
    while fragment[:2] == b"\xff\xd8" and at + 9 <= len(fragment):
        if fragment[at] != 0xFF:
            return None
        marker, length = fragment[at + 1], struct.unpack(">H", fragment[at + 2 : at + 4])[0]
        if marker in JPEG_SOF:
            return struct.unpack(">HH", fragment[at + 5 : at + 9])
        at += 2 + length
    return None


def check_codestream(ds: Any) -> None:
    """Compressed frames must have the size the header declares (checked before decoding)."""
    if not ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian).is_encapsulated:
        return
    for fragment in _first_fragments(ds.PixelData):
        size = _codestream_size(fragment)
        if size is not None and size != (int(ds.Rows), int(ds.Columns)):
            raise Rejected(
                RejectReason.INCONSISTENT_PIXEL_HEADER,
                f"compressed frame is {size[0]} x {size[1]}, header says {ds.Rows} x {ds.Columns}",
            )


def _first_fragments(data: bytes) -> list[bytes]:
    found = []
    try:
        for index, fragment in enumerate(generate_fragments(data)):
            found.append(fragment[:65536])
            if index >= 2:
                break
    except ValueError:
        pass  # a broken item table is the decoder's to report
    return found


def decode(ds: Any) -> Array:
    """The stored pixel values of a single-frame image (header already checked)."""
    check_codestream(ds)
    try:
        stored = np.asarray(ds.pixel_array)
    except Exception as err:  # noqa: BLE001 - decoder errors come in every type
        reason = RejectReason.TRUNCATED if truncation(err) else RejectReason.DECODE_FAILED
        raise Rejected(reason, f"{type(err).__name__}: {err}") from None
    if stored.ndim != 2:
        raise Rejected(RejectReason.MULTI_FRAME, f"pixel array of shape {stored.shape}")
    return stored


def read_plain(path: Path, max_pixels: int) -> Array | None:
    """A PNG/JPEG/... as float32 in [0, 1], or None when it is not a plain image."""
    try:
        with Image.open(path) as img:
            if img.width * img.height > max_pixels:
                raise Rejected(
                    RejectReason.TOO_LARGE,
                    f"{img.width} x {img.height} > --max-pixels {max_pixels:,}",
                )
            img.load()
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                values = np.asarray(img, dtype=np.float32)
                return pixels.percentile_window(values) if values.max() > 255 else values / 255
            return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as err:
        raise Rejected(RejectReason.TOO_LARGE, str(err)) from None
    except (OSError, ValueError, SyntaxError) as err:
        raise Rejected(RejectReason.TRUNCATED, f"{type(err).__name__}: {err}") from None
