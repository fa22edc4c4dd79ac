"""``datasite synth``: write a seeded synthetic hospital export (DICOM files + labels.csv).

Each file is drawn from its own generator seeded by (seed, index), so a site is identical for
the same seed whatever the order of writing. About one patient in ten has a second study.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from datasite.errors import ConfigError
from datasite.synth import header, phantom, phi
from datasite.synth.shifts import SiteShift

Array = NDArray[Any]

CLASS_NAMES = ("normal", "opacity")
MULTICLASS_NAMES = ("normal", "pneumonia", "effusion")  # --classes multiclass
LABELS_FILE = "labels.csv"
PHI_FILE = "phi_values.json"
FILES_PER_FOLDER = 500
VENDORS = ("FUJIFILM Corporation", "Agfa", "GE Healthcare", "Philips Medical Systems", "Carestream")


@dataclass(frozen=True)
class SynthConfig:
    out: Path
    site: str
    n: int
    seed: int
    shift: SiteShift
    rows: int = 512
    label_noise: float = 0.03
    repeat_fraction: float = 0.1
    multiclass: bool = False  # normal / pneumonia (focal opacity) / effusion (basal fluid)

    @property
    def class_names(self) -> tuple[str, ...]:
        return MULTICLASS_NAMES if self.multiclass else CLASS_NAMES


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    files: int
    positives: int
    patients: int
    labels_csv: Path
    phi_json: Path


def org_root(site: str) -> str:
    """A fictive org root for the site's UIDs (same site name -> same root)."""
    digits = int(hashlib.sha256(site.encode()).hexdigest()[:8], 16) % 100000
    return f"1.2.826.0.1.3680043.10.{digits}."


def _patient_of(n: int, seed: int, repeat_fraction: float) -> list[int]:
    rng = np.random.default_rng([seed, 0])
    n_patients = max(1, math.ceil(n / (1.0 + repeat_fraction)))
    extra = rng.integers(0, n_patients, size=n - n_patients).tolist()
    order = list(range(n_patients)) + extra
    return [int(p) for p in rng.permutation(order)]


def _stored(attenuation: Array, photometric: str, bits: int) -> Array:
    top = 2**bits - 1
    stored = attenuation * 0.85 * top + 0.05 * top
    if photometric == "MONOCHROME1":
        stored = top - stored
    out: Array = np.round(stored).astype(np.uint16)
    return out


def _windows(
    rng: np.random.Generator, values: Array, shift: SiteShift
) -> tuple[tuple[float, float], ...]:
    if rng.random() >= shift.window_fraction:
        return ()
    lo, hi = np.percentile(values, [2.0, 99.5])
    first = (float(lo + hi) / 2.0, float(hi - lo))
    if shift.name == "ge-dx" or rng.random() < 0.3:
        return (first, (first[0], first[1] * 1.6))
    return (first,)


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def acquisition(
    rng: np.random.Generator, cfg: SynthConfig, lesion: bool, finding: str = ""
) -> header.Acquisition:
    """Draw one file's acquisition (pixels included) from the site's shift."""
    s = cfg.shift
    modality = _choice(rng, ("CR", "DX")) if s.modality == "mixed" else s.modality
    photometric = "MONOCHROME1" if rng.random() < s.monochrome1_fraction else "MONOCHROME2"
    bits = int(s.bits_stored[int(rng.integers(len(s.bits_stored)))])
    cols = 2 * round(cfg.rows * s.aspect / 2)
    pixels = phantom.render(rng, cfg.rows, cols, lesion, s.noise, finding)
    stored = _stored(pixels, photometric, bits)
    slope, intercept = s.rescale
    syntaxes, weights = zip(*s.transfer_syntaxes, strict=True)
    p = np.asarray(weights) / np.sum(weights)
    return header.Acquisition(
        stored=stored,
        modality=modality,
        photometric=photometric,
        bits_stored=bits,
        spacing_mm=s.field_mm / cfg.rows,
        view="PA" if rng.random() < 0.7 else "AP",
        slope=slope,
        intercept=intercept,
        windows=_windows(rng, stored * slope + intercept, s),
        transfer_syntax=str(syntaxes[int(rng.choice(len(syntaxes), p=p))]),
        manufacturer=_choice(rng, VENDORS) if s.manufacturer == "Mixed" else s.manufacturer,
        model=s.model,
        charset=s.charset,
    )


def relative_path(index: int) -> str:
    """Folders of 500; every seventh file has no extension, as many PACS exports do."""
    name = f"IM{index:06d}" + ("" if index % 7 == 3 else ".dcm")
    return f"series{index // FILES_PER_FOLDER:03d}/{name}"


def _write_one(cfg: SynthConfig, index: int, patient_id: int, log: header.PhiLog) -> int:
    rng = np.random.default_rng([cfg.seed, 1, index])
    lesion = bool(rng.random() < cfg.shift.prevalence)
    label = int(lesion) ^ int(rng.random() < cfg.label_noise)
    finding = ""
    if cfg.multiclass:  # abnormal cases split evenly; label noise moves to another class
        truth = int(rng.integers(1, 3)) if lesion else 0
        noisy = rng.random() < cfg.label_noise
        label = (truth + int(rng.integers(1, 3))) % 3 if noisy else truth
        finding, lesion = phantom.FINDINGS[truth], False
    site_code = cfg.site[:3].upper()
    who = phi.patient(
        np.random.default_rng([cfg.seed, 2, patient_id]), cfg.shift.charset, site_code
    )
    institution = phi.HOSPITALS[int(hashlib.sha256(cfg.site.encode()).digest()[0]) % 5]
    visit = phi.visit(rng, cfg.shift.charset, institution)
    ds = header.build(acquisition(rng, cfg, lesion, finding), who, visit, org_root(cfg.site), log)
    path = cfg.out / relative_path(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return label


def generate_site(cfg: SynthConfig, progress: Callable[[int], None] | None = None) -> SynthSummary:
    """Write ``cfg.n`` DICOM files, ``labels.csv`` and ``phi_values.json`` under ``cfg.out``."""
    if cfg.n < 1:
        raise ConfigError(f"--n {cfg.n}: generate at least one file.")
    if cfg.rows < 32:
        raise ConfigError(f"--rows {cfg.rows} is too small; use 32 or more (512 by default).")
    cfg.out.mkdir(parents=True, exist_ok=True)
    patients = _patient_of(cfg.n, cfg.seed, cfg.repeat_fraction)
    log = header.PhiLog()
    rows = []
    for index, patient_id in enumerate(patients):
        label = _write_one(cfg, index, patient_id, log)
        rows.append((relative_path(index), label, cfg.class_names[label]))
        if progress:
            progress(1)
    labels_csv = cfg.out / LABELS_FILE
    with labels_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "label_name"])
        writer.writerows(rows)
    phi_json = cfg.out / PHI_FILE
    phi_json.write_text(json.dumps(sorted(set(log.values)), ensure_ascii=False, indent=1))
    positives = sum(1 for row in rows if row[1] > 0)
    return SynthSummary(cfg.out, cfg.n, positives, len(set(patients)), labels_csv, phi_json)
