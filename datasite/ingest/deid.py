"""De-identification: a metadata row of coded values only, and a pseudonymous patient key.

No header text is copied: every string column is chosen from a fixed vocabulary in this
module (vendors, modalities, view positions, photometric interpretations, body parts) with
"other" for anything unknown, so an institution name hiding in Manufacturer cannot reach the
upload. Numbers (bits, rows, columns, spacing) are parsed as numbers.

Patients are keyed by ``HMAC-SHA256(site secret, PatientID)``, printed as
``P`` + 12 digits: stable within one site (same key file), meaningless elsewhere.

The site secret is 32 random bytes in a key file (default ``~/.config/datasite/pseudonym.key``
or ``$DATASITE_PSEUDONYM_KEY_FILE``), created on first use with mode 600. Keep it with the
site's other secrets and back it up: losing it breaks the link between ingestions, leaking it
lets anyone holding a PatientID recompute that patient's key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from datasite.errors import ConfigError
from datasite.ingest.pixels import first_value

KEY_FILE_ENV = "DATASITE_PSEUDONYM_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/datasite/pseudonym.key")
KEY_DIGITS = 12
OTHER = "other"
# (vendor as uploaded, word sequences that identify it in a Manufacturer string)
VENDORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Fujifilm", ("fujifilm", "fuji")),
    ("Agfa", ("agfa", "agfa gevaert")),
    ("GE", ("ge", "g e", "gehc", "general electric")),
    ("Philips", ("philips",)),
    ("Siemens", ("siemens",)),
    ("Carestream", ("carestream", "kodak")),
    ("Canon", ("canon", "toshiba")),
    ("Konica Minolta", ("konica", "minolta")),
    ("Samsung", ("samsung",)),
    ("Shimadzu", ("shimadzu",)),
    ("Hologic", ("hologic",)),
    ("Varian", ("varian",)),
)
MODALITIES = frozenset(
    {"CR", "DX", "MG", "CT", "MR", "US", "NM", "PT", "XA", "RF", "OT", "SC", "IO", "PX"}
)
VIEW_POSITIONS = frozenset({"PA", "AP", "LL", "RL", "LLD", "RLD", "LAT", "LATERAL", "OBLIQUE"})
PHOTOMETRICS = frozenset({"MONOCHROME1", "MONOCHROME2"})
BODY_PARTS = frozenset(
    {"CHEST", "ABDOMEN", "PELVIS", "HEAD", "SKULL", "NECK", "SPINE", "CSPINE", "TSPINE",
     "LSPINE", "HAND", "WRIST", "ARM", "ELBOW", "SHOULDER", "HIP", "KNEE", "LEG", "ANKLE",
     "FOOT", "BREAST", "EXTREMITY", "WHOLEBODY"}
)  # fmt: skip


def default_key_file() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()


def load_or_create_key(path: Path) -> bytes:
    """The site secret in ``path``; created (mode 600) when the file does not exist yet."""
    path = path.expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"Key file {path} is readable by others (mode {mode:o}); run chmod 600 {path}."
        )
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise ConfigError(
            f"Key file {path} does not hold a hex key; restore it from backup."
        ) from None
    if len(key) < 16:
        raise ConfigError(f"Key file {path} holds {len(key)} bytes; 16 or more are required.")
    return key


def patient_key(key: bytes, patient_id: str) -> str:
    """``P`` + 12 digits from HMAC-SHA256(key, PatientID)."""
    digest = hmac.new(key, patient_id.encode("utf-8"), hashlib.sha256).digest()
    return f"P{int.from_bytes(digest[:8], 'big') % 10**KEY_DIGITS:0{KEY_DIGITS}d}"


def sop_fingerprint(key: bytes, sop_instance_uid: str) -> str:
    """A keyed hash of the SOP Instance UID, for duplicate detection without keeping UIDs."""
    return hmac.new(key, b"sop|" + sop_instance_uid.encode(), hashlib.sha256).hexdigest()


def _spacing(ds: Any) -> float:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = first_value(ds.get(keyword))
        if value:
            return round(value, 4)
    return float("nan")


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.casefold())) + " "


def vendor(manufacturer: str) -> str:
    """A Manufacturer string -> a vendor from VENDORS ("other" when none matches, "" if empty)."""
    if not manufacturer.strip():
        return ""
    words = _words(manufacturer)
    for name, patterns in VENDORS:
        if any(f" {pattern} " in words for pattern in patterns):
            return name
    return OTHER


def coded(value: Any, vocabulary: frozenset[str]) -> str:
    """A coded header value if it is in ``vocabulary``, "other" if not, "" when absent."""
    text = str(value or "").strip().upper()
    if not text:
        return ""
    return text if text in vocabulary else OTHER


def controlled_terms() -> frozenset[str]:
    """Every string this module can put in a metadata cell (verify ignores them)."""
    vendors = {name for name, _ in VENDORS}
    return frozenset({OTHER, *vendors, *MODALITIES, *VIEW_POSITIONS, *PHOTOMETRICS, *BODY_PARTS})


def metadata_row(ds: Any) -> dict[str, Any]:
    """The coded, non-identifying header fields of one DICOM image."""
    return {
        "modality": coded(ds.get("Modality"), MODALITIES),
        "view_position": coded(ds.get("ViewPosition"), VIEW_POSITIONS),
        "manufacturer": vendor(str(ds.get("Manufacturer", "") or "")),
        "photometric": coded(ds.get("PhotometricInterpretation"), PHOTOMETRICS),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "rows": int(ds.get("Rows", 0) or 0),
        "columns": int(ds.get("Columns", 0) or 0),
        "pixel_spacing_mm": _spacing(ds),
    }
