"""``datasite synth`` and ``datasite ingest``: make a synthetic export, turn an export into
a de-identified dataset with mock twins on a datasite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from datasite.cli.support import URL_HELP, console, err_console, fail_on_error
from datasite.ingest.records import DEFAULT_MAX_PIXELS, BurnedInPolicy
from datasite.synth.shifts import presets_help
from fedcommon.formats import Format, FormatOpt

# Every exit code of ``datasite ingest`` (the numbers are DatasiteExit, fedcommon/exitcodes.py).
INGEST_EXIT_CODES: dict[int, str] = {
    0: "every image file accepted and uploaded",
    10: "uploaded, but some files were rejected (see the report)",
    2: "bad option or environment",
    5: "site unreachable",
    6: "login failed",
    11: "ingestion impossible: bad labels file or options, or nothing accepted (the report "
    "says why for each file)",
    12: "dataset name taken",
    13: "--verify found PHI: nothing uploaded; the message names column, tag and what to do",
    15: "--dicomweb server unreachable or refusing; run again to resume",
}
INGEST_EXIT_HELP = "Exit codes: " + "; ".join(f"{c} {t}" for c, t in INGEST_EXIT_CODES.items())

LABELS_HELP = (
    "CSV: a key column (file, or StudyInstanceUID / SOPInstanceUID with --dicomweb) and "
    "label; an optional first line '# classes: normal,pneumonia' declares the classes."
)
DICOMWEB_HELP = "Pull from this DICOMweb root (QIDO-RS/WADO-RS), e.g. http://pacs:8042/dicom-web."
CACHE_HELP = (
    "Where --dicomweb downloads go (mode 700; a re-run resumes). Default "
    "~/.cache/datasite/dicomweb/<hash of URL>."
)
CLASSES_HELP = (
    "Declared classes, e.g. normal,pneumonia: any other label is an error naming its line."
)
MODALITY_HELP = "Modalities to accept (others are refused and reported), e.g. CR,DX or CT."
BURNED_IN_HELP = (
    "strict: accept only BurnedInAnnotation NO on modalities without text; allow-missing: "
    "no flag counts as NO (not for US/SC); trust-header: NO is believed even for US/SC."
)
MAX_PIXELS_HELP = "Refuse files whose header declares more pixels (checked before decoding)."
KEY_FILE_HELP = (
    "Site secret for pseudonyms (created mode 600 if missing; default "
    "$DATASITE_PSEUDONYM_KEY_FILE or ~/.config/datasite/pseudonym.key)."
)


@contextmanager
def _progress_bars(fetching: bool) -> Iterator[Any]:
    """Bars for fetching (with --dicomweb) and decoding, as the library's Progresses."""
    from datasite.ingest.upload import Progresses

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        fetch = bar.add_task("fetching", total=None, visible=fetching)
        decode = bar.add_task("decoding", total=None)

        def on(task: Any) -> Any:
            return lambda done, total: bar.update(task, completed=done, total=total)

        yield Progresses(decode=on(decode), fetch=on(fetch) if fetching else None)


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
    kind = "declared" if info["classes_declared"] else "discovered in the labels file"
    classes = ", ".join(f"{i} {name} ({n})" for i, (name, n) in enumerate(info["classes"].items()))
    console.print(f"Classes ({kind}): {classes}.")
    for warning in info["split_warnings"]:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if outcome.report_fallback:
        err_console.print("[yellow]warning:[/] source folder not writable; report written here.")
    console.print(f"Report: {outcome.report_csv} and {outcome.report_json.name}")


def ingest(
    url: Annotated[str, typer.Option(help=URL_HELP)],
    labels: Annotated[Path, typer.Option(help=LABELS_HELP)],
    dataset: Annotated[str, typer.Option(help="Name of the new dataset on the site.")],
    source: Annotated[
        Path | None, typer.Argument(help="Folder of DICOM / PNG / JPEG files (or --dicomweb).")
    ] = None,
    dicomweb: Annotated[str | None, typer.Option(help=DICOMWEB_HELP)] = None,
    cache_dir: Annotated[Path | None, typer.Option(help=CACHE_HELP)] = None,
    classes: Annotated[str, typer.Option(help=CLASSES_HELP)] = "",
    modality: Annotated[str, typer.Option(help=MODALITY_HELP)] = "CR,DX",
    body_part: Annotated[str, typer.Option(help="Only these BodyPartExamined codes.")] = "",
    burned_in: Annotated[BurnedInPolicy, typer.Option(help=BURNED_IN_HELP)] = (
        BurnedInPolicy.STRICT
    ),
    max_pixels: Annotated[int, typer.Option(help=MAX_PIXELS_HELP)] = DEFAULT_MAX_PIXELS,
    size: Annotated[int, typer.Option(help="Square training size in pixels.")] = 128,
    description: Annotated[
        str, typer.Option(help="Dataset description (no PHI; default: generated).")
    ] = "",
    val_fraction: Annotated[float, typer.Option(help="Share kept for validation.")] = 0.2,
    verify: Annotated[bool, typer.Option(help="Prove no source PHI is uploaded.")] = False,
    key_file: Annotated[Path | None, typer.Option(help=KEY_FILE_HELP)] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write ingest-report.* (default SOURCE).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Decoding processes (default: measured best, 1).")
    ] = None,
    format: FormatOpt = Format.TABLE,
) -> None:
    """Ingest a DICOM/PNG export, or studies on a PACS, as a de-identified dataset with
    synthetic mock twins.

    Admin credentials come from DATASITE_ADMIN_EMAIL / DATASITE_ADMIN_PASSWORD.
    """
    from datasite.config import admin_credentials
    from datasite.ingest.upload import ingest as run_ingest

    with fail_on_error():
        request = _request(
            source, url, labels, dataset, dicomweb, cache_dir, classes, modality, body_part,
            burned_in, max_pixels, size, description, val_fraction, verify, key_file,
            report_dir, workers,
        )  # fmt: skip
        creds = admin_credentials()
        with _progress_bars(request.dicomweb is not None) as bars:
            outcome = run_ingest(request, creds, progress=bars)
    if format == "json":
        typer.echo(json.dumps({**outcome.summary, "report": str(outcome.report_json)}))
    else:
        _print_summary(outcome.summary, outcome)
    raise typer.Exit(code=outcome.exit_code)


def _request(
    source: Path | None, url: str, labels: Path, dataset: str, dicomweb: str | None,
    cache_dir: Path | None, classes: str, modality: str, body_part: str,
    burned_in: BurnedInPolicy, max_pixels: int, size: int, description: str,
    val_fraction: float, verify: bool, key_file: Path | None, report_dir: Path | None,
    workers: int | None,
) -> Any:  # fmt: skip
    """Check the options against each other and build the library's request."""
    from datasite.errors import ConfigError
    from datasite.ingest.deid import default_key_file
    from datasite.ingest.dicomweb import default_cache
    from datasite.ingest.gates import GateOptions, parse_codes
    from datasite.ingest.labels import parse_classes
    from datasite.ingest.pipeline import IngestOptions
    from datasite.ingest.upload import IngestRequest

    if (source is None) == (dicomweb is None):
        raise ConfigError("Give either SOURCE (a folder) or --dicomweb URL (a PACS), not both.")
    gates = GateOptions(
        modalities=parse_codes(modality, "--modality"),
        body_parts=parse_codes(body_part, "--body-part") if body_part else None,
        burned_in=burned_in,
    )
    options = IngestOptions(
        size=size, val_fraction=val_fraction, gates=gates, max_pixels=max_pixels
    )
    if workers:
        options = replace(options, workers=workers)
    folder = source if source is not None else cache_dir or default_cache(str(dicomweb))
    return IngestRequest(
        url=url, source=folder, labels_csv=labels, dataset=dataset,
        key_file=key_file or default_key_file(), description=description, options=options,
        verify=verify, report_dir=report_dir, dicomweb=dicomweb,
        classes=parse_classes(classes) if classes else None,
    )  # fmt: skip


ingest.__doc__ = f"{ingest.__doc__}\n\n    {INGEST_EXIT_HELP}."


def register(app: typer.Typer) -> None:
    """Add ``synth`` and ``ingest`` as top-level commands of ``app``."""
    app.command("synth")(synth)
    app.command("ingest")(ingest)
