"""hw9-grade: student ids from any file name, through every writer and a re-run."""
import json
import os
import random

import pytest

from graders.batch.ids import MAX_ID_BYTES, original_name, student_id
from tests.batch_helpers import fake_judges, grade_here, gradebook, zip_submission

JUDGE = """
import json, sys
json.dump({"tests": [{"name": "q1.a", "score": 2, "max_score": 3, "status": "failed", "output": "x"}],
           "extra_data": {"hw9": {"sandbox": {"level": "landlock", "description": "Landlock"}}}},
          open(sys.argv[1] + "/results.json", "w"))
"""


@pytest.mark.parametrize(
    "name, expected",
    [
        (b"caf\xe9", "caf%E9"), ("100%", "100%25"), (".hidden", "%2Ehidden"), ("..", "%2E."), (" a b ", "%20a b%20"),
        ("a\nb", "a%0Ab"), ("\u202eevil", "%E2%80%AEevil"), ("élève", "élève"), ("alice", "alice"), (b"", "unnamed"),
    ],
    ids=["latin-1", "percent", "hidden", "dotdot", "spaces", "newline", "bidi", "accents", "plain", "empty"],
)
def test_the_escaping_rule(name, expected):
    assert student_id(name) == expected
    assert student_id(os.fsdecode(name)) == expected  # as os.listdir gives it
    if expected != "unnamed":
        assert original_name(expected) == os.fsencode(name)


def test_any_byte_name_maps_to_a_distinct_utf8_id_and_back():
    generator = random.Random(9)
    names = {bytes(generator.choice([*range(1, 47), *range(48, 256)]) for _ in range(generator.randint(1, 60))) for _ in range(3000)}
    ids = {}
    for name in names:
        student = student_id(name)
        student.encode("utf-8")  # strict: every writer can write it
        assert "/" not in student and student not in (".", "..") and not student.startswith(".")
        assert original_name(student) == name
        ids[student] = name
    assert len(ids) == len(names)


def test_a_name_too_long_for_a_folder_is_cut_stably():
    long, other = b"\xff" * 255, b"\xff" * 254
    assert len(student_id(long).encode()) <= MAX_ID_BYTES
    assert student_id(long) == student_id(long) != student_id(other)
    kept, digest = student_id(long).rsplit("~", 1)
    assert kept and kept == "%FF" * (len(kept) // 3) and len(digest) == 16  # never cut inside a %XX


def test_names_that_are_not_utf8_are_graded_written_and_recognised_again(tmp_path, monkeypatch, capsys):
    klass = os.fsencode(tmp_path / "class")
    os.mkdir(klass)
    zip_submission(os.fsdecode(klass + b"/caf\xe9.zip"), {"q1.py": "x = 1\n"})
    os.mkdir(klass + b"/na\xefve")
    with open(klass + b"/na\xefve/q1.py", "w") as stream:
        stream.write("x = 1\n")
    with open(klass + b"/bad\xff.zip", "w") as stream:
        stream.write("not a zip")
    os.mkdir(klass + b"/100%")
    with open(klass + b"/100%/q1.py", "w") as stream:
        stream.write("x = 1\n")
    fake_judges(monkeypatch, JUDGE)
    out = tmp_path / "out"
    assert grade_here(monkeypatch, klass, "--out", out) == 3  # bad\xff.zip is invalid: not every submission graded
    rows = gradebook(out)
    assert {student: row["status"] for student, row in rows.items()} == {
        "caf%E9": "graded", "na%EFve": "graded", "100%25": "graded", "bad%FF": "invalid",
    }
    assert rows["caf%E9"]["q1"] == "2" and rows["caf%E9"]["sandbox"] == "landlock"
    assert "bad\\xff.zip is not a readable zip" in rows["bad%FF"]["reason"]
    for student in rows:
        folder = out / "students" / student
        assert json.loads((folder / "record.json").read_text())["student"] == student
        assert json.loads((folder / "results.json").read_text())["tests"] is not None
        assert "class report" in (folder / "index.html").read_text()
    assert "caf\\xe9.zip" in (out / "students" / "caf%E9" / "index.html").read_text()  # the source, as text
    assert 'href="students/caf%25E9/index.html"' in (out / "report.html").read_text()
    capsys.readouterr()
    assert grade_here(monkeypatch, klass, "--out", out) == 3
    assert "4 submissions, 4 already graded and unchanged, 0 to grade" in capsys.readouterr().out
    assert gradebook(out) == rows
