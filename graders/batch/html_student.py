"""One student's page: scores, every failed check's feedback, and Q2's pictures."""
from graders.batch.html_page import esc, page, points, status_cell
from graders.batch.statistics import lost_points
from graders.harness import QUESTION_MODULES

CLASS_PAGE = "../../report.html"
LOG_LINES = 40
FUNCTIONS = ("filter_cv2", "filter_keras")


def _question_table(record):
    rows = "".join(
        f'<tr><td>{q}</td><td class="num">{points(record.scores[q])} / {points(record.max_scores.get(q))}</td></tr>'
        for q in QUESTION_MODULES
        if q in record.scores
    )
    total = f'<tr><th>total</th><th class="num">{points(record.total)} / {points(sum(record.max_scores.values()))}</th></tr>'
    return f"<table><thead><tr><th>question</th><th class=\"num\">points</th></tr></thead><tbody>{rows}{total}</tbody></table>"


def _failed_checks(results):
    tests = results.get("tests", [])
    failed = [test for test in tests if lost_points(test)]
    if not tests:
        return ""
    if not failed:
        return f"<h2>Feedback</h2><p>All {len(tests)} checks passed.</p>"
    parts = [f"<h2>Failed checks ({len(failed)} of {len(tests)})</h2>"]
    for test in failed:
        parts.append(
            f'<div class="check"><span class="check-name">{esc(test["name"])}</span> '
            f'<span class="muted">{points(test.get("score"))} / {points(test.get("max_score"))} points</span>'
            f"<pre>{esc(test.get('output', '').strip() or '(no feedback)')}</pre></div>"
        )
    passed = [test["name"] for test in tests if not lost_points(test)]
    if passed:
        items = "".join(f"<li>{esc(name)}</li>" for name in passed)
        parts.append(f"<details><summary>{len(passed)} passed checks</summary><ul>{items}</ul></details>")
    return "\n".join(parts)


def _image(name, caption):
    return f'<img src="q2/{esc(name)}" alt="{esc(caption)}" title="{esc(caption)}">'


def _output_cells(output, kernel):
    if "image" not in output:
        return f'<td colspan="2" class="note">{esc(output.get("note", "no output"))}</td>'
    shown = _image(output["image"], f"{kernel}: the student's output")
    caption = f"{esc(output.get('dtype', ''))} {esc(tuple(output.get('shape', ())))}"
    if "difference" not in output:
        return f'<td>{shown}<br>{caption}</td><td class="note">{esc(output.get("note", ""))}</td>'
    difference = _image(output["difference"], f"{kernel}: |student - reference|")
    return f'<td>{shown}<br>{caption}</td><td>{difference}<br>max |diff| {output["max_abs_difference"]:.3g}</td>'


def gallery_section(gallery):
    if gallery is None:
        return ""
    parts = ["<h2>Q2: filters on a test image</h2>"]
    if gallery.get("note"):
        parts.append(f'<p class="note">{esc(gallery["note"])}</p>')
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
        lines = (folder / "grading.log").read_text(errors="replace").splitlines()[-LOG_LINES:]
    except OSError:
        return ""
    return f"<h2>End of the grading log</h2><pre>{esc(chr(10).join(lines))}</pre>" if lines else ""


def student_page(record, results, gallery, folder):
    body = [
        f'<p><a href="{CLASS_PAGE}">&larr; class report</a></p>',
        f"<h1>{esc(record.student)}</h1>",
        f'<table><tr><th>status</th>{status_cell(record.status)}</tr><tr><th>reason</th><td>{esc(record.reason)}</td></tr>'
        f'<tr><th>graded from</th><td>{esc(record.source)}</td></tr><tr><th>grading time</th><td>{record.seconds:.1f} s</td></tr></table>',
    ]
    if record.status == "graded":
        body += ["<h2>Scores</h2>", _question_table(record), _failed_checks(results), gallery_section(gallery)]
    else:
        body.append(_log_tail(folder))
    body.append('<p class="muted"><a href="results.json">results.json</a> (Gradescope format)</p>')
    return page(f"{record.student}: hw9 grade", "\n".join(part for part in body if part))
