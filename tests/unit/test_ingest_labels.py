"""The labels file: declared classes, discovered classes, and a line number for every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasite.ingest.labels import parse_classes, read_labels
from datasite.ingest.records import IngestError


def labels_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("name,label\na,0\n", r"needs 'label' and exactly one of file", id="no-key"),
        pytest.param("file,label\n", "has a header but no rows", id="empty"),
        pytest.param("", "is empty; it needs a header row", id="no-header"),
        pytest.param("file,label\na,0\na,1\n", "line 3: a is labelled twice", id="conflict"),
        pytest.param("file,label\na,\nb,1\n", "line 2: empty file or label", id="blank"),
        pytest.param("file,label\na,0\nb\nc,1\n", r"line 3: 1 field\(s\)", id="short-row"),
        pytest.param("label,file\n0\n", r"line 2: 1 field\(s\), expected file,label", id="short"),
    ],
)
def test_bad_labels_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        read_labels(labels_file(tmp_path, content))


def test_every_bad_line_is_listed_not_just_the_first(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "file,label\na,normal\nb\nc,pneumonia\nd,\ne\n")

    with pytest.raises(IngestError, match="3 bad line") as caught:
        read_labels(path, classes=("normal", "pneumonia"))

    assert [f"line {n}:" in caught.value.message for n in (3, 5, 6)] == [True] * 3


def test_a_typo_among_declared_classes_names_its_line(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "file,label\na,0\nb,1\nc,7\nd,pneumonia\n")

    with pytest.raises(IngestError, match=r"line 4: label '7' is not one of the declared"):
        read_labels(path, classes=("normal", "opacity"))


def test_declared_classes_accept_names_and_indices_in_declared_order(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "file,label\na,pneumonia\nb,0\nc,normal\n")

    table = read_labels(path, classes=("normal", "pneumonia"))

    assert table.class_names == ("normal", "pneumonia") and table.declared
    assert table.by_file == {"a": 1, "b": 0, "c": 0}


def test_classes_can_be_declared_in_the_file_itself(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "# classes: normal,pneumonia\nfile,label\na,pneumonia\nb,x\n")

    with pytest.raises(IngestError, match=r"line 4: label 'x' is not one of"):
        read_labels(path)


def test_declared_classes_in_file_and_flag_must_agree(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "# classes: normal,pneumonia\nfile,label\na,normal\n")

    with pytest.raises(IngestError, match="differs from the labels file"):
        read_labels(path, classes=("pneumonia", "normal"))


def test_a_gap_in_discovered_integer_classes_is_refused(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "file,label\na,0\nb,1\nc,7\n")

    with pytest.raises(IngestError, match=r"\[0, 1, 7\] are not 0..K-1 \(missing \[2, 3, 4"):
        read_labels(path)


def test_a_name_among_discovered_integers_is_refused(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "file,label\na,0\nb,1\nc,pneumonia\n")

    with pytest.raises(IngestError, match=r"mixes integer labels and names \(line 4: 'pneumonia'"):
        read_labels(path)


def test_class_names_and_integer_labels_both_work(tmp_path: Path) -> None:
    (tmp_path / "names.csv").write_text("file,label\n./a.dcm,pneumonia\nb\\c.dcm,normal\n")
    (tmp_path / "ints.csv").write_text("file,label,label_name\na,1,opacity\nb,0,normal\n")

    names, ints = read_labels(tmp_path / "names.csv"), read_labels(tmp_path / "ints.csv")

    assert names.class_names == ("normal", "pneumonia") and not names.declared
    assert names.by_file == {"a.dcm": 1, "b/c.dcm": 0}
    assert ints.class_names == ("normal", "opacity") and ints.by_file == {"a": 1, "b": 0}


def test_labels_can_be_keyed_by_study_or_instance_uid(tmp_path: Path) -> None:
    path = labels_file(tmp_path, "StudyInstanceUID,label\n1.2.3,normal\n1.2.4,opacity\n")

    table = read_labels(path)

    assert table.key_column == "StudyInstanceUID"
    assert table.by_key == {"1.2.3": 0, "1.2.4": 1}


@pytest.mark.parametrize("text", ["normal", "a,a", " , "])
def test_a_class_list_needs_two_distinct_names(text: str) -> None:
    with pytest.raises(IngestError, match="two or more distinct names"):
        parse_classes(text)
