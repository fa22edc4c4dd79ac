"""A seeded chest radiograph phantom: anatomy, texture, noise and an optional focal opacity.

Values are attenuation-like in [0, 1] as shown on a MONOCHROME2 display (air dark, bone bright).
The same model draws the synthetic pixels of mock twins, so a mock never derives from a real
image. Coordinates are in half-heights, so round shapes stay round on non-square detectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Array = NDArray[Any]


@dataclass(frozen=True)
class Anatomy:
    """One patient's random anatomy: scale, rotation, offsets and tissue contrasts."""

    scale: float
    angle: float
    shift_x: float
    shift_y: float
    lung_width: float
    lung_height: float
    heart_size: float
    rib_phase: float
    rib_freq: float
    soft_tissue: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Anatomy:
        return cls(
            scale=float(rng.uniform(0.86, 1.02)),
            angle=float(rng.uniform(-0.09, 0.09)),
            shift_x=float(rng.uniform(-0.06, 0.06)),
            shift_y=float(rng.uniform(-0.05, 0.05)),
            lung_width=float(rng.uniform(0.21, 0.27)),
            lung_height=float(rng.uniform(0.48, 0.6)),
            heart_size=float(rng.uniform(0.17, 0.26)),
            rib_phase=float(rng.uniform(0, 2 * np.pi)),
            rib_freq=float(rng.uniform(15.0, 20.0)),
            soft_tissue=float(rng.uniform(0.38, 0.5)),
        )


def _grid(rows: int, cols: int, anatomy: Anatomy) -> tuple[Array, Array]:
    half = rows / 2.0
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    y = (y - half) / half - anatomy.shift_y
    x = (x - cols / 2.0) / half - anatomy.shift_x
    cos, sin = np.cos(anatomy.angle), np.sin(anatomy.angle)
    return (x * cos - y * sin) / anatomy.scale, (x * sin + y * cos) / anatomy.scale


def _ellipse(
    x: Array, y: Array, cx: float, cy: float, rx: float, ry: float, edge: float = 0.12
) -> Array:
    """1 inside, 0 outside, with a soft rim of relative width ``edge``."""
    r = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2)
    out: Array = np.clip((1.0 - r) / edge, 0.0, 1.0)
    return out


def smooth_field(rng: np.random.Generator, rows: int, cols: int, cells: int = 12) -> Array:
    """Low-frequency texture with blobs of about the size of a lesion, zero mean, unit std."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    field = np.asarray(
        Image.fromarray(coarse, mode="F").resize((cols, rows), Image.Resampling.BICUBIC)
    )
    out: Array = (field - field.mean()) / (field.std() + 1e-6)
    return out


def _lungs(x: Array, y: Array, a: Anatomy) -> Array:
    left = _ellipse(x, y, -0.34, -0.08, a.lung_width, a.lung_height)
    right = _ellipse(x, y, 0.34, -0.08, a.lung_width, a.lung_height)
    return np.maximum(left, right)


def _anatomy_image(x: Array, y: Array, a: Anatomy) -> tuple[Array, Array]:
    body = _ellipse(x, y, 0.0, 0.08, 0.8, 1.0, edge=0.05)
    lungs = _lungs(x, y, a)
    heart = _ellipse(x, y, 0.1, 0.22, a.heart_size * 1.2, a.heart_size)
    spine = np.clip(1.0 - np.abs(x) / 0.08, 0.0, 1.0) * body
    ribs = np.maximum(np.cos(y * a.rib_freq + 3.0 * x**2 + a.rib_phase), 0.0) ** 6
    clavicle_y = -0.6 + 0.3 * np.abs(x)
    clavicles = np.exp(-(((y - clavicle_y) / 0.025) ** 2)) * (np.abs(x) < 0.5) * (np.abs(x) > 0.06)
    image = 0.06 + a.soft_tissue * body - 0.26 * lungs + 0.22 * heart * lungs
    image += 0.2 * spine + 0.045 * ribs * lungs + 0.12 * clavicles * body
    return image, lungs


def _lesion(rng: np.random.Generator, x: Array, y: Array, lungs: Array) -> Array:
    """A Gaussian opacity centred at a random point well inside a lung field."""
    inside = np.argwhere(lungs > 0.9)
    cy, cx = inside[rng.integers(len(inside))]
    sigma = float(rng.uniform(0.06, 0.1))
    amplitude = float(rng.uniform(0.15, 0.3))
    d2 = (x - x[cy, cx]) ** 2 + (y - y[cy, cx]) ** 2
    out: Array = amplitude * np.exp(-d2 / (2 * sigma**2))
    return out


def _effusion(rng: np.random.Generator, x: Array, y: Array, a: Anatomy) -> Array:
    """Fluid at the base of one lung: a bright layer below a level that rises laterally
    (the meniscus), blunting the costophrenic angle."""
    side = -1.0 if rng.random() < 0.5 else 1.0
    lung = _ellipse(x, y, side * 0.34, -0.08, a.lung_width, a.lung_height)
    level = float(rng.uniform(-0.05, 0.15)) - 0.8 * np.abs(x - side * 0.34) ** 2
    layer = np.clip((y - level) / 0.04, 0.0, 1.0)
    out: Array = float(rng.uniform(0.36, 0.46)) * layer * np.clip(lung * 2.0, 0.0, 1.0)
    return out


FINDINGS = ("none", "pneumonia", "effusion")  # class index -> pattern in multi-class data


def render(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    lesion: bool,
    noise: float = 0.02,
    finding: str = "",
) -> Array:
    """One radiograph, float32 in [0, 1], ``rows x cols``: a focal opacity if ``lesion``
    (or ``finding == "pneumonia"``), a pleural effusion if ``finding == "effusion"``."""
    anatomy = Anatomy.draw(rng)
    x, y = _grid(rows, cols, anatomy)
    image, lungs = _anatomy_image(x, y, anatomy)
    image += 0.02 * smooth_field(rng, rows, cols) * (0.3 + lungs)
    if lesion or finding == "pneumonia":
        image += _lesion(rng, x, y, lungs)
    if finding == "effusion":
        image += _effusion(rng, x, y, anatomy)
    image += rng.normal(0.0, noise, size=image.shape).astype(np.float32)
    out: Array = np.clip(image, 0.0, 1.0).astype(np.float32)
    return out


def phantom_arrays(
    n: int, size: int, seed: int, classes: int = 3, prevalence: float = 0.6
) -> tuple[Array, Array]:
    """``n`` radiographs (uint8 ``N x 1 x size x size``) and int64 labels, drawn directly (no
    DICOM): class 0 normal, then :data:`FINDINGS` in turn (``classes`` 2 or 3); a share
    ``prevalence`` is abnormal, split evenly between the findings."""
    rng = np.random.default_rng([seed, 7])
    abnormal = rng.random(n) < prevalence
    labels = np.where(abnormal, rng.integers(1, classes, size=n), 0).astype(np.int64)
    images = np.empty((n, 1, size, size), dtype=np.uint8)
    for i, label in enumerate(labels):
        unit = render(rng, size, size, lesion=False, finding=FINDINGS[int(label)])
        images[i, 0] = np.round(unit * 255.0).astype(np.uint8)
    return images, labels
