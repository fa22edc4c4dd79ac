"""``--verify``: prove that no identifying source value survives in what will be uploaded.

Every string the upload carries (dataset name and description, asset names, metadata column
names and every cell) is searched for every PHI value collected from the source headers.
Values of 4+ characters that are not pure digits are searched as case-insensitive substrings;
shorter or numeric values (sex, initials, dates, times) as whole words, which is what a leak of
such a value looks like without flagging every number that happens to contain its digits.
Single characters (sex codes, middle initials) are not searched: alone they identify no one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

WORD = re.compile(r"\w+")
MIN_LENGTH = 2  # a sex code or a middle initial alone identifies no one and is in any text


@dataclass
class VerifyReport:
    phi_values: int
    uploaded_strings: int
    leaks: list[tuple[str, str]] = field(default_factory=list)  # (where, value) - local only

    @property
    def passed(self) -> bool:
        return not self.leaks


def uploaded_strings(
    name: str, description: str, assets: Mapping[str, tuple[Any, Any]]
) -> list[tuple[str, str]]:
    """``(where, text)`` for every string in the upload, private and mock sides alike."""
    found = [("dataset name", name), ("dataset description", description)]
    for asset, pair in assets.items():
        found.append(("asset name", asset))
        for side, value in zip(("private", "mock"), pair, strict=True):
            found.extend((f"{asset} ({side})", text) for text in _strings_of(value))
    return found


def _strings_of(value: Any) -> Iterable[str]:
    if isinstance(value, pd.DataFrame):
        yield from (str(column) for column in value.columns)
        for column in value.columns:
            yield from (str(cell) for cell in value[column].tolist())
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in "OUS":
            yield from (str(item) for item in value.ravel().tolist())
        else:
            yield str(value.dtype)
    else:
        yield str(value)


def _substrings(text: str, lengths: list[int]) -> Iterable[str]:
    for length in lengths:
        if length > len(text):
            break
        yield from (text[i : i + length] for i in range(len(text) - length + 1))


def verify(phi: Iterable[str], uploaded: list[tuple[str, str]]) -> VerifyReport:
    """Search every uploaded string for every PHI value (case-insensitive).

    Substrings of each distinct uploaded text are looked up in a set of the PHI values, so
    the cost grows with the text, not with the number of values.
    """
    needles = {v.strip().casefold() for v in phi if len(v.strip()) >= MIN_LENGTH}
    long = {n for n in needles if len(n) >= 4 and not n.isdigit()}
    short = needles - long
    lengths = sorted({len(n) for n in long})
    where_of: dict[str, str] = {}
    for where, text in uploaded:
        where_of.setdefault(text.casefold(), where)
    report = VerifyReport(phi_values=len(needles), uploaded_strings=len(uploaded))
    for text, where in where_of.items():
        hits = {s for s in _substrings(text, lengths) if s in long}
        hits |= (set(WORD.findall(text)) | {text}) & short
        report.leaks.extend((where, hit) for hit in sorted(hits))
    return report
