"""``datasite synth`` and ``datasite ingest``: make a synthetic export, turn an export into
a de-identified dataset with mock twins on a datasite."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from datasite.cli.support import URL_HELP, console, err_console, fail_on_error
from datasite.synth.shifts import presets_help

INGEST_EXIT_CODES = (
    "Exit codes: 0 every image file accepted and uploaded; 10 uploaded, but some files were "
    "rejected (see the report); 2 bad option or environment; 5 site unreachable; 6 login "
    "failed; 11 ingestion impossible (bad labels file, nothing accepted); 12 dataset name "
    "taken; 13 --verify found PHI, nothing uploaded."
)

KEY_FILE_HELP = (
    "Site secret for pseudonyms (created mode 600 if missing; default "
    "$DATASITE_PSEUDONYM_KEY_FILE or ~/.config/datasite/pseudonym.key)."
)


@contextmanager
def _progress_bar(what: str) -> Iterator[Any]:
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def synth(
    out: Annotated[Path, typer.Option(help="Folder to write the export into.")],
    site: Annotated[str, typer.Option(help="Site name (seeds its UID root and codes).")],
    n: Annotated[int, typer.Option(help="Number of DICOM files.")] = 200,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 0,
    shift: Annotated[str, typer.Option(help=f"Site preset. {presets_help()}.")] = "balanced",
    rows: Annotated[int, typer.Option(help="Image height in pixels (spacing scales).")] = 512,
    prevalence: Annotated[
        float | None, typer.Option(help="Override the preset's share of opacities.")
    ] = None,
    noise: Annotated[float | None, typer.Option(help="Override the preset's noise.")] = None,
    multiclass: Annotated[
        bool, typer.Option(help="Labels normal / pneumonia / effusion instead of normal / opacity.")
    ] = False,
) -> None:
    """Write a seeded synthetic hospital export: chest radiograph DICOM files with fake PHI,
    labels.csv (file,label,label_name) and phi_values.json (every fake identifier written)."""
    from datasite.synth import SynthConfig, generate_site, preset

    with fail_on_error():
        config = SynthConfig(
            out, site, n, seed, preset(shift, prevalence, noise), rows=rows, multiclass=multiclass
        )
        with _progress_bar("writing DICOM files") as update:
            done = [0]

            def tick(step: int) -> None:
                done[0] += step
                update(done[0], n)

            made = generate_site(config, progress=tick)
    console.print(
        f"Wrote {made.files} files ({made.positives} labelled abnormal, {made.patients} "
        f"patients) to {made.out}; labels in {made.labels_csv.name}."
    )


def _print_summary(info: dict[str, Any], outcome: Any) -> None:
    table = Table("", "count", title="Ingestion")
    for key in ("files", "accepted", "rejected", "skipped", "train", "val"):
        table.add_row(key, str(info[key]))
    for reason, count in info["rejected_by_reason"].items():
        table.add_row(f"  rejected: {reason}", str(count))
    for warning, count in info["warnings"].items():
        table.add_row(f"  warning: {warning}", str(count))
    console.print(table)
    near = info["mock_nearest_real"]
    console.print(
        f"Mock vs nearest real image: min RMS {near['min_rms']}, max correlation "
        f"{near['max_correlation']}, identical {near['identical']} "
        f"({near['mocks_checked']} mocks x {near['reals_checked']} reals)."
    )
    if "verify" in info:
        console.print(f"PHI verify: {'PASS' if info['verify']['passed'] else 'FAIL'} "
                      f"({info['verify']['phi_values']} source values checked).")  # fmt: skip
    if outcome.report_fallback:
        err_console.print("[yellow]warning:[/] source folder not writable; report written here.")
    console.print(f"Report: {outcome.report_csv} and {outcome.report_json.name}")


def ingest(
    source: Annotated[Path, typer.Argument(help="Folder of DICOM / PNG / JPEG files.")],
    url: Annotated[str, typer.Option(help=URL_HELP)],
    labels: Annotated[Path, typer.Option(help="CSV with columns file,label.")],
    dataset: Annotated[str, typer.Option(help="Name of the new dataset on the site.")],
    size: Annotated[int, typer.Option(help="Square training size in pixels.")] = 128,
    description: Annotated[str, typer.Option(help="Dataset description (no PHI).")] = "",
    val_fraction: Annotated[float, typer.Option(help="Share kept for validation.")] = 0.2,
    verify: Annotated[bool, typer.Option(help="Prove no source PHI is uploaded.")] = False,
    key_file: Annotated[
        Path | None,
        typer.Option(help=KEY_FILE_HELP),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write ingest-report.csv/.json (default SOURCE).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Decoding processes.")] = min(2, os.cpu_count() or 1),
    format: Annotated[str, typer.Option(help="table or json.")] = "table",
) -> None:
    """Ingest a DICOM/PNG export as a de-identified dataset with synthetic mock twins.

    Admin credentials come from DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD.
    """
    from datasite.config import admin_credentials
    from datasite.ingest.deid import default_key_file
    from datasite.ingest.pipeline import IngestOptions
    from datasite.ingest.upload import IngestRequest
    from datasite.ingest.upload import ingest as run_ingest

    with fail_on_error():
        request = IngestRequest(
            url=url, source=source, labels_csv=labels, dataset=dataset,
            key_file=key_file or default_key_file(), description=description,
            options=IngestOptions(size=size, val_fraction=val_fraction, workers=workers),
            verify=verify, report_dir=report_dir,
        )  # fmt: skip
        creds = admin_credentials()
        with _progress_bar("decoding") as update:
            outcome = run_ingest(request, creds, progress=update)
    if format == "json":
        typer.echo(json.dumps({**outcome.summary, "report": str(outcome.report_json)}))
    else:
        _print_summary(outcome.summary, outcome)
    raise typer.Exit(code=outcome.exit_code)


ingest.__doc__ = f"{ingest.__doc__}\n\n    {INGEST_EXIT_CODES}"


def register(app: typer.Typer) -> None:
    """Add ``synth`` and ``ingest`` as top-level commands of ``app``."""
    app.command("synth")(synth)
    app.command("ingest")(ingest)
