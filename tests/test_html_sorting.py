"""The class report's sortable tables, sorted by the page's own script run under Node.js.

A teacher clicks a column to find the lowest totals: blank cells (a submission that was
not graded has no total) must sort last in either direction, not first.
"""
import json
import shutil
import subprocess

import pytest

from graders.batch import store
from graders.batch.html_page import SORT_SCRIPT
from graders.batch.html_report import write_report

NODE = shutil.which("node") or shutil.which("nodejs")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the page's script cannot be run")

# The page's script, with a document holding no table (so nothing runs at load), then the cells sorted.
HARNESS = """
var document = {querySelectorAll: function () { return []; }};
%s
var cells = %s;
function sorted(ascending) {
  return cells.slice().sort(function (a, b) { return compareKeys(sortKey(a), sortKey(b), ascending); });
}
console.log(JSON.stringify({ascending: sorted(true), descending: sorted(false)}));
"""


def _sort(cells):
    script = HARNESS % (SORT_SCRIPT, json.dumps(cells))
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_blank_cells_sort_last_in_both_directions():
    order = _sort(["87.5", "", "100", "9", "", "12.25"])
    assert order["ascending"] == ["9", "12.25", "87.5", "100", "", ""]
    assert order["descending"] == ["100", "87.5", "12.25", "9", "", ""]


def test_numbers_sort_by_value_and_text_case_insensitively():
    order = _sort(["b", "10", "A", "2", "c"])
    assert order["ascending"] == ["2", "10", "A", "b", "c"]
    assert order["descending"] == ["c", "b", "A", "10", "2"]


def test_a_submission_not_graded_has_a_blank_total_sorted_as_blank(tmp_path):
    layout = store.Layout(tmp_path)
    for student, status in (("ann", "graded"), ("ben", "invalid")):
        staging = layout.new_staging(student)
        (staging / "results.json").write_text(json.dumps({"tests": []}))
        record = store.Record(student=student, status=status, reason="", source="s",
                              scores={"q1": 20.0} if status == "graded" else {}, max_scores={"q1": 25.0})
        store.commit(layout, record, staging)
    write_report(layout, store.load_records(layout))
    page = layout.report.read_text()
    ben = page[page.index(">ben</a>"):]
    ben = ben[:ben.index("</tr>")]
    assert '<td class="num"><b></b></td>' in ben and "data-value" not in ben
