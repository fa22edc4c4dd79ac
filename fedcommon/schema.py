"""The imaging asset schema both sides rely on.

A hospital's ingested dataset is one syft Dataset with these assets, each with a mock twin of
the same shape, dtype and columns (synthetic content). Training binds the train split; the
held-out validation split stays at the site for federated evaluation.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

IMAGE_DTYPE = np.uint8  # N x 1 x size x size, 0-255 after windowing: compact to upload
LABEL_DTYPE = np.int64  # N, class index 0..K-1
DEFAULT_IMAGE_SIZE = 128


class AssetName(StrEnum):
    IMAGES = "images"
    LABELS = "labels"
    METADATA = "metadata"
    VAL_IMAGES = "val_images"
    VAL_LABELS = "val_labels"
    VAL_METADATA = "val_metadata"


TRAIN_ASSETS = (AssetName.IMAGES, AssetName.LABELS, AssetName.METADATA)
VAL_ASSETS = (AssetName.VAL_IMAGES, AssetName.VAL_LABELS, AssetName.VAL_METADATA)

# Columns of the de-identified metadata table kept with the images (no identifiers).
METADATA_COLUMNS = (
    "patient_key",  # pseudonymous, stable within one site, meaningless elsewhere
    "modality",
    "view_position",
    "manufacturer",
    "photometric",
    "bits_stored",
    "rows",
    "columns",
    "pixel_spacing_mm",
    "label",
    "label_name",
)
