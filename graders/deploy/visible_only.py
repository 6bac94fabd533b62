"""pytest plugin `-p graders.deploy.visible_only`: run only the rubric's visible checks.

hw9-check loads it beside the grading plugin. Before the grading plugin splits points
over the selected cases, the checks whose rubric visibility is not `visible` (hidden,
after_due_date, after_published) are deselected, so neither their code nor their cases
run, and the scores are those of the visible checks alone. What was left out (withheld
checks, and checks marked slow or gpu that a run without -m does not select) is written
to `--hw9-check-notes FILE` for hw9-check to report.
"""
import json
from pathlib import Path

import pytest

from graders.judge.naming import check_name, is_check
from graders.judge.state import state_of

UNSELECTED_MARKERS = ("slow", "gpu")  # as graders.judge.plugin: not run without -m


def pytest_addoption(parser):
    parser.getgroup("hw9").addoption("--hw9-check-notes", metavar="FILE", default=None, help="hw9-check: write the checks left out here (JSON)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    rubric = state_of(config).rubric
    withheld, unselected = {}, {}
    keep = []
    for item in items:
        if not is_check(item):
            keep.append(item)
            continue
        name = check_name(item)
        entry = rubric.items.get(name)
        if entry is not None and entry.visibility != "visible":
            row = withheld.setdefault(name, {"question": entry.question, "visibility": entry.visibility, "points": entry.points, "cases": 0})
            row["cases"] += 1
            continue
        markers = [marker for marker in UNSELECTED_MARKERS if item.get_closest_marker(marker)]
        if markers and not config.option.markexpr:
            unselected.setdefault(name, {"question": name.split(".", 1)[0], "markers": markers, "points": entry.points if entry else 0.0})
        keep.append(item)
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    path = config.getoption("hw9_check_notes")
    if path:
        Path(path).write_text(json.dumps({"withheld": withheld, "unselected": unselected}, indent=2))
