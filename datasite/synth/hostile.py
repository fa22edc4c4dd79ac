"""Hostile files for testing the decode budget: small on disk, enormous once decoded.

``deflated_bomb`` writes a Deflated Explicit VR Little Endian CR file that claims
``rows x columns`` 8-bit pixels and really holds them, all zero: 20000 x 20000 is 400 MB
inflated from about 390 KB on disk. It is streamed, so writing one needs no large memory.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from datasite.synth.shifts import CR_SOP_CLASS

CHUNK = 1 << 24


def _header(rows: int, columns: int) -> tuple[FileMetaDataset, Dataset]:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CR_SOP_CLASS, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.BurnedInAnnotation = "CR", "HOSTILE-1", "NO"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    return meta, ds


def deflated_bomb(
    path: Path, rows: int = 20000, columns: int = 20000, hidden: int = 0, level: int = 6
) -> Path:
    """Write the hostile file to ``path`` and return it.

    ``hidden`` zero bytes follow the pixel data (a file inflating beyond its header).
    """
    meta, ds = _header(rows, columns)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    size = rows * columns
    total = size + hidden
    pixel_header = b"\xe0\x7f\x10\x00OB\x00\x00" + size.to_bytes(4, "little")
    deflater = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    with path.open("wb") as handle:
        handle.write(b"\x00" * 128 + b"DICM")
        write_file_meta_info(handle, meta)  # type: ignore[arg-type]
        handle.write(deflater.compress(body.getvalue() + pixel_header))
        zeros = bytes(CHUNK)
        for start in range(0, total, CHUNK):
            handle.write(deflater.compress(zeros[: min(CHUNK, total - start)]))
        handle.write(deflater.flush())
    return path
