"""The static HTML both report pages share: skeleton, style, table sorting, escaping."""
import html
from urllib.parse import quote

from graders.batch.ids import printable

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2430; max-width: 1400px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.muted { color: #667085; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #e3e7ee; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f5f9; }
th.sortable { cursor: pointer; user-select: none; } th.sortable:after { content: " \\2195"; color: #98a2b3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-graded { color: #067647; } .status-timeout, .status-crashed { color: #b54708; font-weight: 600; }
.status-invalid { color: #b42318; font-weight: 600; }
.bar { display: inline-block; height: 10px; background: #2e90fa; vertical-align: middle; }
.bar-track { display: inline-block; width: 120px; height: 10px; background: #eaecf0; margin-right: 6px; vertical-align: middle; }
.bar-track .bar { display: block; } .percent { display: inline-block; width: 3em; text-align: right; }
pre { background: #f6f8fa; border: 1px solid #e3e7ee; padding: 8px 10px; white-space: pre-wrap; word-break: break-word; margin: 4px 0 14px; }
.check { margin: 10px 0; } .check-name { font-weight: 600; } .mistake { margin: 4px 0; } .mistake-hint { margin: 2px 0 6px; }
.gallery td { text-align: center; font-size: 12px; } .gallery img { width: 128px; height: auto; image-rendering: pixelated; border: 1px solid #d0d5dd; }
.note { color: #b54708; }
"""

# Click a header to sort by it; a second click reverses. Cells sort by data-value if present.
SORT_SCRIPT = """
function sortKey(text) {
  var number = parseFloat(text);
  if (text === "") { return null; }
  return !isNaN(number) && isFinite(text) ? number : text.toLowerCase();
}
function compareKeys(x, y, ascending) {
  if (x === null || y === null) { return (x === null) - (y === null); }  /* blank cells last, either way */
  if (typeof x !== typeof y) { return (typeof x === "number" ? -1 : 1) * (ascending ? 1 : -1); }
  return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
}
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.classList.add("sortable");
    header.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var ascending = header.dataset.order !== "asc";
      header.dataset.order = ascending ? "asc" : "desc";
      function key(row) {
        var cell = row.cells[column];
        return sortKey(cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim());
      }
      rows.sort(function (a, b) { return compareKeys(key(a), key(b), ascending); });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def esc(value):
    return html.escape(printable(value), quote=True)


def link(href_parts, text):
    """An <a> to a relative path made of `href_parts` (each URL-quoted)."""
    return f'<a href="{esc("/".join(quote(part) for part in href_parts))}">{esc(text)}</a>'


def points(value):
    return "" if value is None else f"{round(value, 2):g}"


def page(title, body, sortable=False):
    script = f"<script>{SORT_SCRIPT}</script>" if sortable else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n{script}</body></html>\n"
    )


def status_cell(status):
    return f'<td class="status-{esc(status)}">{esc(status)}</td>'
