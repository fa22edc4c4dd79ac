"""Fake protected health information, drawn from a seeded generator.

Every value is invented; none belongs to a real person. Names include non-ASCII letters
(Latin-1 for ISO_IR 100 sites, any script for ISO_IR 192 sites).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

LATIN1_FAMILY = (
    "Müller", "Østergård", "Nuñez", "Lefèvre", "Johansson", "O'Brien", "Gonçalves",
    "Kowalczyk", "Haßelbach", "Ndiaye", "Vandenbroucke", "Åkesson", "Papadakis", "Rossi",
)  # fmt: skip
LATIN1_GIVEN = (
    "Jürgen", "Zoë", "José", "Ingrid", "Siobhán", "François", "Maëlle", "Tomás", "Aïcha",
    "Björn", "Céline", "Lucía", "Dagný", "Renée",
)  # fmt: skip
UNICODE_FAMILY = ("Παπαδόπουλος", "Иванова", "Wiśniewski", "Dvořák", "Yılmaz", "Nguyễn")
UNICODE_GIVEN = ("Ελένη", "Дмитрий", "Łukasz", "Šárka", "Çağrı", "Thủy")
STREETS = ("Rue des Lilas", "Hauptstraße", "Calle Mayor", "Elm Street", "Storgatan")
CITIES = ("Lyon", "Göttingen", "Sevilla", "Springfield", "Uppsala", "Porto")
HOSPITALS = (
    "St. Elsewhere General Hospital", "Hôpital Fictif de Lyon", "Klinikum Nirgendwo",
    "Hospital Inventado de Sevilla", "Mercy Imaginary Medical Center",
)  # fmt: skip


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def person_name(rng: np.random.Generator, charset: str) -> str:
    """``Family^Given^Middle`` with non-ASCII letters suitable for ``charset``."""
    family: tuple[str, ...] = LATIN1_FAMILY
    given: tuple[str, ...] = LATIN1_GIVEN
    if charset == "ISO_IR 192" and rng.random() < 0.5:
        family, given = UNICODE_FAMILY, UNICODE_GIVEN
    middle = chr(ord("A") + int(rng.integers(26)))
    return f"{_pick(rng, family)}^{_pick(rng, given)}^{middle}"


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, size=n))


@dataclass(frozen=True)
class Patient:
    name: str
    mrn: str
    other_id: str
    birth_date: date
    sex: str
    address: str
    phone: str

    def age_on(self, day: date) -> str:
        return f"{(day - self.birth_date).days // 365:03d}Y"


@dataclass(frozen=True)
class Visit:
    """One study's people, identifiers and timing."""

    day: date
    time: str
    accession: str
    study_id: str
    referring: str
    performing: str
    operator: str
    institution: str
    station: str
    device_serial: str


def patient(rng: np.random.Generator, charset: str, site_code: str) -> Patient:
    born = date(1930, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 75)))
    street = f"{int(rng.integers(1, 200))} {_pick(rng, STREETS)}"
    return Patient(
        name=person_name(rng, charset),
        mrn=f"{site_code}{_digits(rng, 8)}",
        other_id=f"NHS{_digits(rng, 10)}",
        birth_date=born,
        sex="M" if rng.random() < 0.5 else "F",
        address=f"{street}^^{_pick(rng, CITIES)}^^{_digits(rng, 5)}",
        phone=f"+1-555-{_digits(rng, 3)}-{_digits(rng, 4)}",
    )


def visit(rng: np.random.Generator, charset: str, institution: str) -> Visit:
    day = date(2015, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 9)))
    seconds = int(rng.integers(7 * 3600, 20 * 3600))
    return Visit(
        day=day,
        time=f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}",
        accession=f"ACC{_digits(rng, 9)}",
        study_id=f"S{_digits(rng, 6)}",
        referring=person_name(rng, charset),
        performing=person_name(rng, charset),
        operator=person_name(rng, charset),
        institution=institution,
        station=f"XRAY-RM{_digits(rng, 2)}",
        device_serial=f"SN{_digits(rng, 7)}",
    )
