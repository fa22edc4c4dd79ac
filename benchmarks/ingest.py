"""Ingestion throughput: ``python -m benchmarks.ingest [--n 2000] [--size 128] [--no-upload]``.

Generates N synthetic DICOM files once (cached under out/bench-ingest/), then on the same files
times a bare ``pydicom.dcmread`` + ``pixel_array`` loop and our whole processing pipeline
(read, checks, decode, window, resize, de-identify, split, mock twins) with 1 and 2 workers.
Optionally times the upload of the resulting assets to a real datasite on loopback.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import pydicom

from datasite.config import AdminCredentials
from datasite.ingest import pipeline
from datasite.ingest.labels import read_labels
from datasite.synth import SynthConfig, generate_site, preset

ADMIN = AdminCredentials(email="bench@hospital.example", password="benchmark-password-1")
KEY = b"benchmark-site-key-0123456789abcdef"


def cached_site(root: Path, n: int, rows: int) -> Path:
    out = root / f"n{n}-r{rows}"
    labels = out / "labels.csv"
    if labels.exists() and sum(1 for _ in csv.reader(labels.open())) == n + 1:
        return out
    started = time.perf_counter()
    generate_site(SynthConfig(out, "bench", n=n, seed=0, shift=preset("balanced"), rows=rows))
    print(f"generate_s={time.perf_counter() - started:.1f} (n={n}, rows={rows}, cached in {out})")
    return out


def raw_loop(source: Path) -> float:
    started = time.perf_counter()
    for path in sorted(p for p in source.rglob("IM*") if p.is_file()):
        _ = pydicom.dcmread(path).pixel_array
    return time.perf_counter() - started


def ours(source: Path, size: int, workers: int) -> tuple[float, pipeline.IngestResult]:
    labels = read_labels(source / "labels.csv")
    options = pipeline.IngestOptions(size=size, workers=workers, mock_seed=0)
    started = time.perf_counter()
    result = pipeline.process(source, labels, KEY, options)
    return time.perf_counter() - started, result


def upload_seconds(result: pipeline.IngestResult) -> tuple[float, float]:
    from datasite.syftio.client import admin_login, upload_dataset
    from lab.process import SiteProcess

    assets = pipeline.assets(result)
    megabytes = sum(getattr(p, "nbytes", 0) + getattr(m, "nbytes", 0) for p, m in assets.values())
    with tempfile.TemporaryDirectory() as tmp:
        site = SiteProcess(name="bench", data_dir=Path(tmp) / "data", admin=ADMIN)
        site.start()
        try:
            client = admin_login(site.url, ADMIN)
            started = time.perf_counter()
            upload_dataset(client, "bench-cxr", "benchmark", assets)
            return time.perf_counter() - started, megabytes / 1e6
        finally:
            site.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cache", type=Path, default=Path("out/bench-ingest"))
    parser.add_argument("--no-upload", action="store_true")
    args = parser.parse_args()
    source = cached_site(args.cache, args.n, args.rows)
    raw = raw_loop(source)
    one, _ = ours(source, args.size, workers=1)
    two, result = ours(source, args.size, workers=2)
    n = args.n
    print(f"raw_pydicom_images_per_s={n / raw:.1f}")
    print(f"ours_images_per_s={n / one:.1f} (1 worker)")
    print(f"ours_images_per_s_2workers={n / two:.1f}")
    print(f"ingest_rate_ratio={raw / one:.2f} (ours/raw, 1 worker)")
    print(f"ingest_rate_ratio_2workers={raw / two:.2f}")
    print(f"mock_nearest_real={result.nearest}")
    if not args.no_upload:
        seconds, megabytes = upload_seconds(result)
        print(f"upload_s={seconds:.1f} ({megabytes:.0f} MB private+mock, {n} images)")


if __name__ == "__main__":
    main()
