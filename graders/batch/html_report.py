"""report.html (the class) and students/<id>/index.html (one student), static files only."""
import json
import statistics as stats

from graders import questions
from graders.batch import statistics
from graders.batch.html_page import esc, link, page, points, status_cell
from graders.batch.html_student import student_page
from graders.batch.progress import plural
from graders.batch.results import MAX_RESULTS_BYTES, read_results
from graders.batch.store import write_text_atomically
from graders.judge.safe_files import read_regular_file

STUDENT_PAGE = "index.html"
MISTAKE_STUDENT_LINKS = 8
MISTAKE_PARAMS_SHOWN = 6


def read_json(path):
    """The JSON object in `path` (a regular file, not a link); None if there is none."""
    try:
        data = json.loads(read_regular_file(path, MAX_RESULTS_BYTES))
    except (OSError, ValueError, RecursionError):  # UnsafeFile is a ValueError
        return None
    return data if isinstance(data, dict) else None


def read_results_or_nothing(path):
    try:
        return read_results(path) or {}
    except ValueError:
        return {}


def question_maxima(records):
    maxima = {}
    for record in records.values():
        for question, value in record.max_scores.items():
            maxima[question] = max(maxima.get(question, 0.0), value)
    return maxima


def _summary(records):
    counts = {}
    for record in records.values():
        counts[record.status] = counts.get(record.status, 0) + 1
    parts = [f"{plural(len(records), 'submission')}: " + ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))]
    sandboxes = {}
    for record in records.values():
        if record.status != "invalid":
            sandboxes[record.sandbox or "unknown"] = sandboxes.get(record.sandbox or "unknown", 0) + 1
    if sandboxes:
        parts.append("sandbox: " + ", ".join(f"{count} {level}" for level, count in sorted(sandboxes.items())))
    totals = [record.total for record in records.values() if record.status == "graded"]
    if totals:
        parts.append(f"total over graded: mean {stats.mean(totals):.1f}, median {stats.median(totals):g}")
    return " &middot; ".join(esc(part) for part in parts)


def _score_table(records, maxima):
    headers = "".join(f'<th class="num">{q}{f" ({points(maxima[q])})" if q in maxima else ""}</th>' for q in questions.names())
    rows = []
    for student, record in sorted(records.items()):
        graded = record.status == "graded"
        cells = "".join(f'<td class="num">{points(record.scores.get(q))}</td>' for q in questions.names())
        total = points(record.total) if graded else ""
        rows.append(
            f"<tr><td>{link(['students', student, STUDENT_PAGE], student)}</td>{cells}"
            f'<td class="num"><b>{total}</b></td>{status_cell(record.status)}'
            f'<td>{esc(record.reason)}</td><td class="num">{record.seconds:.1f}</td><td>{esc(record.sandbox)}</td></tr>'
        )
    return (
        '<table class="sortable" id="scores"><thead><tr><th>student</th>' + headers
        + '<th class="num">total</th><th>status</th><th>reason</th><th class="num">seconds</th><th>sandbox</th></tr></thead><tbody>\n'
        + "\n".join(rows) + "\n</tbody></table>"
    )


def _rate_table(results_by_student):
    rows = []
    for rate in statistics.pass_rates(results_by_student):
        width = round(120 * rate.rate)
        rows.append(
            f'<tr><td>{esc(rate.check)}</td><td data-value="{rate.rate:.4f}">'
            f'<span class="bar-track"><span class="bar" style="width:{width}px"></span></span><span class="percent">{100 * rate.rate:.0f}%</span></td>'
            f'<td class="num">{rate.cases_passed}/{rate.cases}</td><td class="num">{rate.students_all_passed}/{rate.students}</td></tr>'
        )
    return (
        '<table class="sortable" id="pass-rates"><thead><tr><th>check</th><th>pass rate</th>'
        '<th class="num">cases passed</th><th class="num">students passing every case</th></tr></thead><tbody>\n'
        + "\n".join(rows) + "\n</tbody></table>"
    )


def _check_list(checks, shown=4):
    if len(checks) <= shown:
        return ", ".join(esc(check) for check in checks)
    questions = sorted({check.split(".", 1)[0] for check in checks})
    return f'<span title="{esc(", ".join(checks))}">{len(checks)} checks of {esc(", ".join(questions))}</span>'


def _mistake_table(results_by_student):
    mistakes = statistics.common_mistakes(results_by_student)
    if not mistakes:
        return '<p class="muted">No named mistakes among the failing checks.</p>'
    rows = []
    for mistake in mistakes:
        who = ", ".join(link(["students", student, STUDENT_PAGE], student) for student in mistake.students[:MISTAKE_STUDENT_LINKS])
        more = len(mistake.students) - MISTAKE_STUDENT_LINKS
        who += f" and {more} more" if more > 0 else ""
        checks = _check_list(sorted(mistake.checks))
        rows.append(
            f'<tr><td>{esc(mistake.title)}<br><code class="muted">{esc(mistake.id)}</code></td><td class="num">{len(mistake.students)}</td>'
            f"<td>{checks}</td><td>{_params_list(mistake.params)}</td><td>{who}</td></tr>"
        )
    return (
        '<table class="sortable" id="mistakes"><thead><tr><th>likely mistake</th><th class="num">students</th>'
        "<th>checks</th><th>seen with</th><th>students</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def _params_list(params):
    shown = "; ".join(esc(described) for described in params[:MISTAKE_PARAMS_SHOWN])
    more = len(params) - MISTAKE_PARAMS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def class_page(records, results_by_student, title="hw9 grades"):
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="muted">{_summary(records)}. Click a column header to sort.</p>',
        "<h2>Students</h2>",
        _score_table(records, question_maxima(records)),
        "<h2>Pass rate per check</h2>",
        '<p class="muted">Over the graded submissions; a check\'s cases are its parametrizations.</p>',
        _rate_table(results_by_student),
        "<h2>Most common named mistakes</h2>",
        '<p class="muted">The likely mistakes named in failing checks, one row per mistake, by how many students made it; '
        "&ldquo;seen with&rdquo; lists the parameters it was seen with.</p>",
        _mistake_table(results_by_student),
    ]
    return page(title, "\n".join(body), sortable=True)


def write_report(layout, records):
    """Write report.html and every student's page; return the class page's path."""
    results_by_student = {}
    for student, record in records.items():
        folder = layout.student_dir(student)
        results = read_results_or_nothing(folder / "results.json")
        if record.status == "graded":
            results_by_student[student] = results
        gallery = read_json(folder / "q2" / "gallery.json")
        write_text_atomically(folder / STUDENT_PAGE, student_page(record, results, gallery, folder))
    write_text_atomically(layout.report, class_page(records, results_by_student))
    return layout.report
