"""``--verify``: prove that no identifying source value survives in what will be uploaded.

The source's PHI *values* (each with the tag it came from) are compared with the uploaded
*values*: the dataset name and description, and every text cell of every table, private and
mock. Comparison is token-aware: both sides are split into words (case-folded) and a value
leaks when its whole word sequence appears in an uploaded text, so ``Li`` is found in
``Dr Li's clinic`` but not in ``Linear``. Column and asset names are not values and are not
searched; neither are values made only of the controlled vocabulary that de-identification
itself writes (vendor, modality, view, body part codes), nor single letters (sex codes,
initials) and short numbers (weights, ages) that alone identify no one. When it blocks it
names, per leak, where the value was found, which tag it came from and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from datasite.ingest.deid import controlled_terms

WORD = re.compile(r"\w+")
MIN_DIGITS = 6  # dates, times, MRNs, accession numbers; not weights or ages
NAME_WHERE = "dataset name"
DESCRIPTION_WHERE = "dataset description"
ACTIONS = {
    NAME_WHERE: "choose a --dataset name without it",
    DESCRIPTION_WHERE: "rewrite --description without it, or leave it out to use the "
    "generated description",
    "label_name": "rename that class in --classes or in the labels file",
}
BUG_ACTION = (
    "this column holds coded values only, so this should not happen: exclude that file "
    "and report it to the platform team"
)


@dataclass(frozen=True)
class Leak:
    where: str  # "dataset description", "metadata.label_name", ...
    source: str  # the tag the value came from, e.g. "InstitutionName (0008,0080)"
    value: str  # local log only: never printed in an error message

    @property
    def action(self) -> str:
        column = self.where.split(".")[-1].split(" ")[0]
        return ACTIONS.get(self.where, ACTIONS.get(column, BUG_ACTION))

    def explain(self) -> str:
        return f"{self.where}: a value from {self.source} ({self.action})"


@dataclass
class VerifyReport:
    phi_values: int
    uploaded_strings: int
    leaks: list[Leak] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.leaks


def uploaded_strings(
    name: str, description: str, assets: Mapping[str, tuple[Any, Any]]
) -> list[tuple[str, str]]:
    """``(where, text)`` for every text value in the upload, private and mock alike."""
    found = [(NAME_WHERE, name), (DESCRIPTION_WHERE, description)]
    for asset, pair in assets.items():
        for side, value in zip(("private", "mock"), pair, strict=True):
            found.extend(_strings_of(f"{asset}", side, value))
    return sorted(set(found))


def _strings_of(asset: str, side: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, pd.DataFrame):
        for column in value.columns:
            if value[column].dtype == object:
                where = f"{asset}.{column} ({side})"
                yield from ((where, str(cell)) for cell in set(value[column].tolist()))
    elif isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        yield from ((f"{asset} ({side})", str(item)) for item in set(value.ravel().tolist()))


def tokens(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text.casefold()))


def _searched(needle: tuple[str, ...], vocabulary: set[tuple[str, ...]]) -> bool:
    if not needle or needle in vocabulary:
        return False
    if all(token.isdigit() for token in needle):
        return sum(map(len, needle)) >= MIN_DIGITS
    return len(needle) > 1 or len(needle[0]) > 1


def needles(phi: Mapping[str, str]) -> dict[tuple[str, ...], tuple[str, str]]:
    """Searchable word sequences -> (value, source tag)."""
    vocabulary = {tokens(term) for term in controlled_terms()}
    found: dict[tuple[str, ...], tuple[str, str]] = {}
    for value, source in sorted(phi.items()):
        needle = tokens(value)
        if _searched(needle, vocabulary):
            found.setdefault(needle, (value, source))
    return found


def verify(phi: Mapping[str, str], uploaded: list[tuple[str, str]]) -> VerifyReport:
    """Search every uploaded text for every PHI value's word sequence."""
    wanted = needles(phi)
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for needle in wanted:
        by_first.setdefault(needle[0], []).append(needle)
    report = VerifyReport(phi_values=len(wanted), uploaded_strings=len(uploaded))
    for where, text in uploaded:
        words = tokens(text)
        hits = {
            needle
            for i, word in enumerate(words)
            for needle in by_first.get(word, ())
            if words[i : i + len(needle)] == needle
        }
        for needle in sorted(hits):
            value, source = wanted[needle]
            report.leaks.append(Leak(where, source, value))
    return report


def block_message(report: VerifyReport, limit: int = 10) -> str:
    """What the admin reads when --verify blocks: where, from which tag, what to do."""
    lines = [leak.explain() for leak in report.leaks[:limit]]
    more = len(report.leaks) - limit
    if more > 0:
        lines.append(f"... and {more} more (all in the site log)")
    return "\n  ".join(lines)
