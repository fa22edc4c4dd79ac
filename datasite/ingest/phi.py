"""Which source header values count as identifying (DICOM PS3.15 Annex E, basic profile).

``phi_values(ds)`` walks a dataset, nested sequences and private blocks included, and returns
every string that a de-identified upload must not contain. ``--verify`` uses it.
"""

from __future__ import annotations

from typing import Any

from pydicom.multival import MultiValue

PHI_KEYWORDS = frozenset(
    {
        "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs",
        "OtherPatientNames", "PatientBirthDate", "PatientBirthTime", "PatientAge",
        "PatientSex", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
        "MilitaryRank", "EthnicGroup", "PatientComments", "InstitutionName",
        "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName",
        "ReferringPhysicianAddress", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
        "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician", "StationName",
        "DeviceSerialNumber", "AccessionNumber", "StudyID", "StudyDescription",
        "SeriesDescription", "RequestedProcedureID", "RequestedProcedureDescription",
        "ScheduledProcedureStepID", "PerformedProcedureStepID", "AdmissionID",
        "ImageComments", "AdditionalPatientHistory", "PatientWeight", "PatientSize",
    }
)  # fmt: skip
PHI_SEQUENCES = frozenset(
    {
        "OtherPatientIDsSequence", "RequestAttributesSequence", "ReferencedPatientSequence",
        "ReferencedStudySequence", "ProcedureCodeSequence", "PerformedProtocolCodeSequence",
    }
)  # fmt: skip
IDENTIFYING_VRS = frozenset({"PN", "DA", "DT", "TM", "UI"})
STANDARD_UID_ROOT = "1.2.840.10008."  # SOP classes, transfer syntaxes: public, not PHI
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI",
     "UN", "UT", "UR"}
)  # fmt: skip


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bytes):  # private or unknown element read as UN
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        return _strings(text.strip("\x00 "))
    if isinstance(value, list | tuple | MultiValue):
        return [s for item in value for s in _strings(item)]
    text = str(value).strip()
    parts = text.split("^") if "^" in text else []
    return [text, *(p for p in parts if p)]


def _is_phi(element: Any, in_phi_sequence: bool) -> bool:
    if element.VR == "UI":
        return not str(element.value or "").startswith(STANDARD_UID_ROOT)
    return (
        in_phi_sequence
        or element.keyword in PHI_KEYWORDS
        or element.VR in IDENTIFYING_VRS
        or element.tag.is_private
    )


def tag_name(element: Any) -> str:
    """``PatientName (0010,0010)``; private elements as ``private (0029,1010)``."""
    tag = f"({element.tag.group:04X},{element.tag.element:04X})"
    if element.tag.is_private:
        return f"private {tag}"
    return f"{element.keyword or 'unknown'} {tag}"


def phi_values(ds: Any, in_phi_sequence: bool = False, path: str = "") -> dict[str, str]:
    """Every identifying string in ``ds`` -> the tag it came from (``Seq > Tag (g,e)``).

    PN values are also split into their components; nested sequences and private blocks
    are walked. The first tag a value was met in names it.
    """
    found: dict[str, str] = {}
    for tag in list(ds.keys()):
        raw = ds.get_item(tag, keep_deferred=True)
        if raw is None or (raw.value is None and raw.length):
            continue  # a deferred large value (pixel data): binary, and not to be loaded
        element = ds[tag]
        where = f"{path}{tag_name(element)}"
        if element.VR == "SQ":
            inner = in_phi_sequence or element.keyword in PHI_SEQUENCES or element.tag.is_private
            for item in element.value:
                for value, source in phi_values(item, inner, f"{where} > ").items():
                    found.setdefault(value, source)
        elif element.VR in TEXT_VRS and _is_phi(element, in_phi_sequence):
            if element.tag.is_private_creator:
                continue  # names a vendor's block, not a person
            for value in _strings(element.value):
                if value:
                    found.setdefault(value, where)
    return found
