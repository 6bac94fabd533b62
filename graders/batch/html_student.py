"""One student's page: scores, every failed check's feedback, and Q2's pictures.

Written to be handed to the student, so it shows only what the rubric lets them see:
- `visible` and `after_due_date` cases: the whole feedback, led by the likely mistake. A
  class is graded from its collected submissions, after the due date, so the page may show
  them; the instructor's class report shows every case whatever its visibility.
- `hidden` and `after_published` cases: their name and points only (no output, no mistake).
  Writing the page is not publishing the grades, and a page once handed out cannot be
  taken back, so `after_published` is withheld like `hidden`. While any case is withheld
  the grading log (which holds every case's output) is not shown either.
- No absolute path of the instructor's machine: worker folders are cut to the file's path
  in the submission (`q1.py`), library paths to their package (`numpy/...`), any other
  absolute path to its last two parts, and the submission's source to its name.
"""
import re
from pathlib import PurePosixPath

from graders import questions
from graders.batch.html_page import esc, page, points, status_cell
from graders.batch.results import hw9_data
from graders.batch.statistics import describe_params, lost_points, mistakes_of
from graders.judge.safe_files import UnsafeFile, read_tail

CLASS_PAGE = "../../report.html"
LOG_LINES = 40
LOG_TAIL_BYTES = 64 * 1024
FUNCTIONS = ("filter_cv2", "filter_keras")
NAMES_SHOWN = 6
WITHHELD = {"hidden": "hidden", "after_published": "shown once grades are published"}
MISTAKE_PREFIX = "Likely mistake:"
# A worker's private folder, cut so a traceback names `q1.py` (or `work/...`); hw9-grade names
# its judges' temporary folder "$TMPDIR" once the scratch folder is gone (runner.moved_paths).
_WORKER_FOLDER = re.compile(r"(?:\$TMPDIR|(?:/[^\s/'\"]+)*)/hw9-worker-[^\s/'\"]*/(?:submission/)?")
# Any other absolute path of two parts or more (not a URL's "//host/...", nor "a/b" in a sentence).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[\w.@+%-]+/)+[\w.@+%-]*")


def _short_path(match):
    path = match.group(0)
    if "-packages/" in path:
        return path.split("-packages/", 1)[1]
    return "/".join([part for part in path.split("/") if part][-2:])


def relativise(text):
    """`text` without absolute paths of the grading machine (see the module docstring)."""
    return _ABSOLUTE_PATH.sub(_short_path, _WORKER_FOLDER.sub("", str(text)))


def withheld(test):
    """Why the student page shows only this case's name and points, or "" when it shows its feedback."""
    return WITHHELD.get(test.get("visibility", "visible"), "")


def _question_table(record):
    rows = "".join(
        f'<tr><td><a href="#{q}">{q}</a></td><td class="num">{points(record.scores[q])} / {points(record.max_scores.get(q))}</td></tr>'
        for q in questions.names()
        if q in record.scores
    )
    total = f'<tr><th>total</th><th class="num">{points(record.total)} / {points(sum(record.max_scores.values()))}</th></tr>'
    return f"<table><thead><tr><th>question</th><th class=\"num\">points</th></tr></thead><tbody>{rows}{total}</tbody></table>"


def _split(output):
    """A check's output as (its "Likely mistake:" sentence, the rest: checked, expected, got, detail)."""
    lines = relativise(output).strip().splitlines()
    sentences = [line[len(MISTAKE_PREFIX):].strip() for line in lines if line.startswith(MISTAKE_PREFIX)]
    return (sentences[0] if sentences else ""), "\n".join(line for line in lines if not line.startswith(MISTAKE_PREFIX))


def _same_failure(test):
    """The feedback less what was checked: a missing file fails every case of a question the same way."""
    return "\n".join(line for line in test.get("output", "").strip().splitlines() if not line.startswith("Checked:"))


def _grouped(failed):
    """Lists of failed cases shown together: the same named mistakes (by id), else the same failure
    (a failure in the setup names no mistake)."""
    groups = {}
    for test in failed:
        key = tuple(mistake.id for mistake in mistakes_of(test)) or _same_failure(test)
        groups.setdefault(key, []).append(test)
    return groups.values()


def _mistake_lines(group):
    """Each named mistake of the group: its title, id and this student's parameters of it, then its sentence."""
    by_id = {}
    for test in group:
        for mistake in mistakes_of(test):
            title, params = by_id.setdefault(mistake.id, (mistake.title, []))
            described = relativise(describe_params(mistake.params))
            if described and described not in params:
                params.append(described)
    lines = []
    for id, (title, params) in by_id.items():
        shown = f": {esc('; '.join(params))}" if params else ""
        lines.append(f'<p class="mistake">Likely mistake: <b>{esc(title)}</b> <code class="muted">{esc(id)}</code>{shown}</p>')
    sentence = _split(group[0].get("output", ""))[0]
    if sentence:
        lines.append(f'<p class="mistake-hint">{esc(sentence)}</p>')
    return "".join(lines)


def _feedback(group):
    """The first case's checked/expected/got, then, folded, the other cases' that differ in more than what was checked."""
    distinct = {}
    for test in group:
        distinct.setdefault(_same_failure(test), _split(test.get("output", ""))[1])
    first, *others = distinct.values()
    shown = f"<pre>{esc(first or '(no feedback)')}</pre>"
    if not others:
        return shown
    folded = "".join(f"<pre>{esc(output or '(no feedback)')}</pre>" for output in others)
    return f"{shown}<details><summary>{len(others)} more case{'s' * (len(others) > 1)} with the same mistake</summary>{folded}</details>"


def _names(tests):
    names = [test["name"] for test in tests]
    shown = ", ".join(esc(name) for name in names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def _withheld_list(tests):
    """Cases whose feedback the rubric withholds: name and points only."""
    items = "".join(
        f'<li>{esc(test["name"])}: {points(test.get("score", 0))} / {points(test.get("max_score", 0))} '
        f'<span class="muted">(feedback {esc(withheld(test))})</span></li>'
        for test in tests
    )
    return f"<p>Checks whose feedback is not shown:</p><ul>{items}</ul>" if items else ""


def question_section(question, tests, record):
    """A question's heading, its failed cases' feedback (mistake first), withheld cases, the passed ones."""
    shown = [test for test in tests if not withheld(test)]
    failed = [test for test in shown if lost_points(test)]
    passed = [test["name"] for test in shown if not lost_points(test)]
    parts = [f'<h2 id="{question}">{question}: {points(record.scores.get(question))} / {points(record.max_scores.get(question))}</h2>']
    if not failed and len(shown) == len(tests):
        parts.append(f"<p>All {len(tests)} checks passed.</p>")
    for group in _grouped(failed):
        lost = sum(test.get("max_score", 0) - test.get("score", 0) for test in group)
        parts.append(
            f'<div class="check"><span class="check-name">{_names(group)}</span> '
            f'<span class="muted">&minus;{points(lost)} points</span>{_mistake_lines(group)}{_feedback(group)}</div>'
        )
    parts.append(_withheld_list([test for test in tests if withheld(test)]))
    if passed and (failed or len(shown) < len(tests)):
        items = "".join(f"<li>{esc(name)}</li>" for name in passed)
        parts.append(f"<details><summary>{len(passed)} passed checks</summary><ul>{items}</ul></details>")
    return "\n".join(part for part in parts if part)


def feedback_sections(record, results, gallery):
    """One section per graded question; Q2's pictures follow Q2's feedback."""
    by_question = {}
    for test in results.get("tests", []):
        by_question.setdefault(test["name"].split(".", 1)[0], []).append(test)
    parts = []
    for question in sorted(by_question):
        parts.append(question_section(question, by_question[question], record))
        if question == "q2":
            parts.append(gallery_section(gallery))
    return "\n".join(part for part in parts if part)


def _image(name, caption):
    return f'<img src="q2/{esc(name)}" alt="{esc(caption)}" title="{esc(caption)}">'


def _difference_scale(output):
    """What the difference image's white and grey mean (gallery_images.difference_display)."""
    text = f"max |diff| {output['max_abs_difference']:.3g}"
    if "beyond_tolerance" not in output:
        return text
    if not output["beyond_tolerance"]:
        return f"{text}<br>all {output.get('pixels', 0)} pixels within tolerance (black)"
    return (f"{text}<br>{output['beyond_tolerance']} of {output.get('pixels', 0)} pixels beyond tolerance"
            f"<br>white = |diff| {output.get('difference_scale', 0):.3g}")


def _output_cells(output, kernel):
    if "image" not in output:
        return f'<td colspan="2" class="note">{esc(relativise(output.get("note", "no output")))}</td>'
    shown = _image(output["image"], f"{kernel}: the student's output")
    caption = f"{esc(output.get('dtype', ''))} {esc(tuple(output.get('shape', ())))}"
    if "difference" not in output:
        return f'<td>{shown}<br>{caption}</td><td class="note">{esc(relativise(output.get("note", "")))}</td>'
    difference = _image(output["difference"], f"{kernel}: |student - reference|")
    return f'<td>{shown}<br>{caption}</td><td>{difference}<br>{_difference_scale(output)}</td>'


def gallery_section(gallery):
    if gallery is None:
        return ""
    parts = ["<h3>q2: the filters on a test image</h3>"]
    if gallery.get("note"):
        parts.append(f'<p class="note">{esc(relativise(gallery["note"]))}</p>')
    if not gallery.get("kernels"):
        return "\n".join(parts)
    parts.append(f'<p class="muted">{esc(gallery.get("normalisation", ""))}</p>')
    parts.append(f'<p>Input ({esc(tuple(gallery.get("shape", ())))} uint8 RGB): {_image(gallery["input"], "test image")}</p>')
    header = "".join(f'<th colspan="2">{function}: output, difference</th>' for function in FUNCTIONS)
    rows = []
    for row in gallery["kernels"]:
        cells = "".join(_output_cells(row["outputs"].get(function, {}), row["kernel"]) for function in FUNCTIONS)
        rows.append(f'<tr><th>{esc(row["kernel"])}</th><td>{_image(row["reference"], row["kernel"] + ": reference")}</td>{cells}</tr>')
    parts.append(f'<table class="gallery"><thead><tr><th>kernel</th><th>reference</th>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return "\n".join(parts)


def _log_tail(folder):
    try:
        lines = read_tail(folder / "grading.log", LOG_TAIL_BYTES).decode(errors="replace").splitlines()[-LOG_LINES:]
    except (OSError, UnsafeFile):
        return ""
    return f"<h2>End of the grading log</h2><pre>{esc(relativise(chr(10).join(lines)))}</pre>" if lines else ""


def _sandbox(record, results):
    description = hw9_data(results).sandbox_description
    if not record.sandbox:
        return "unknown"
    return f"{record.sandbox}: {description}" if description else record.sandbox


def notebook_section(results):
    """What was graded from a notebook: the cell-by-cell account, then each built module's source."""
    notebook = hw9_data(results).notebook
    if notebook is None:
        return ""
    if notebook.error:
        return f"<h2>Notebook</h2><p>The notebook could not be read: {esc(relativise(notebook.error))}</p>"
    modules = "".join(
        f"<details><summary>{esc(module)}.py as built from the notebook</summary><pre>{esc(source)}</pre></details>"
        for module, source in notebook.modules
    )
    return (
        f"<h2>Notebook</h2><p>Graded from the notebook <b>{esc(notebook.name)}</b>. It was not run: the question modules "
        "were built from its code cells (imports, definitions and the assignments they use), and those were graded. "
        "Every cell, and what was kept or dropped from it and why:</p>"
        f"<details open><summary>cell by cell</summary><pre>{esc(chr(10).join(notebook.summary))}</pre></details>"
        f"<p>The modules graded:</p>{modules or '<p>none: no cell defines a name of any question</p>'}"
    )


def _source_name(source):
    """The submission's own name (a folder or zip), never where the instructor keeps it."""
    return PurePosixPath(source.rstrip("/")).name or source


def student_page(record, results, gallery, folder):
    body = [
        f'<p><a href="{CLASS_PAGE}">&larr; class report</a></p>',
        f"<h1>{esc(record.student)}</h1>",
        f'<table><tr><th>status</th>{status_cell(record.status)}</tr><tr><th>reason</th><td>{esc(relativise(record.reason))}</td></tr>'
        f'<tr><th>graded from</th><td>{esc(_source_name(record.source))}</td></tr><tr><th>grading time</th><td>{record.seconds:.1f} s</td></tr>'
        f'<tr><th>sandbox</th><td>{esc(relativise(_sandbox(record, results)))}</td></tr></table>',
    ]
    if record.scores:  # graded, or stopped with the points of its finished checks
        body += ["<h2>Scores</h2>", _question_table(record), feedback_sections(record, results, gallery)]
    body.append(notebook_section(results))
    # The log holds every case's output: withheld ones too.
    if record.status != "graded" and not any(withheld(test) for test in results.get("tests", [])):
        body.append(_log_tail(folder))
    return page(f"{record.student}: hw9 grade", "\n".join(part for part in body if part))
