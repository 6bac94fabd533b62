"""The student's page: each failed check led by its likely mistake, the rubric's visibility, no instructor paths, Q2's difference image."""
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from graders.batch import gallery_images, gallery_plugin
from graders.batch.html_student import relativise, student_page
from graders.judge.harness import CallResult
from graders.judge.verdict import fail
from graders.oracles import conv
from graders.questions.q2 import checks as q2_checks, mistakes as q2, tolerance

WORKER = "/tmp/hw9-worker-k2j4x9/submission"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    f'  File "{WORKER}/q1.py", line 12, in pool2d\n'
    '  File "/work/main/.venv/lib/python3.11/site-packages/numpy/core/fromnumeric.py", line 59, in _wrapfunc\n'
    "TypeError: unsupported operand"
)
# Every kind of absolute path a page could pick up from the grading machine.
INSTRUCTOR_PATHS = re.compile(r"/tmp/|/work/|/home/|/root/|hw9-worker|site-packages|\.venv")


def _failed(name, diagnosis, got, visibility="visible", detail=""):
    """A results.json test entry of a failed check, as the plugin writes it."""
    with pytest.raises(pytest.fail.Exception) as caught:
        fail(f"a call of {name}", "the right answer", got, diagnosis, detail=detail)
    findings = diagnosis.findings() if diagnosis is not None else ()
    entry = {"name": name, "score": 0.0, "max_score": 1.5, "status": "failed", "output": str(caught.value), "visibility": visibility}
    if findings:
        entry["extra_data"] = {"mistake": findings[0].data()}
    return entry


def _page(tests, tmp_path, status="graded", gallery=None, reason="1 of 2 checks lost points", source="/home/prof/hw9/class/ann.zip"):
    record = SimpleNamespace(
        student="ann", status=status, reason=reason, source=source, seconds=3.0, sandbox="namespaces",
        scores={"q2": 1.0}, max_scores={"q2": 4.0}, total=1.0,
    )
    results = {"tests": tests, "extra_data": {"hw9": {"sandbox": {"level": "namespaces", "description": f"a worker in {WORKER}"}}}}
    return student_page(record, results, gallery, tmp_path)


def test_a_failed_check_leads_with_its_likely_mistake(tmp_path):
    test = _failed("q2.kernel_divisor[16]", q2.DIVISOR_IGNORED(divisor=16), "ones / 9")
    html = _page([test], tmp_path)
    title, params = html.index("blur divisor argument ignored"), html.index("divisor 16")
    sentence = html.index("divisor ignored: blur must use the divisor argument")
    checked, expected, got = html.index("Checked: a call of"), html.index("Expected: the right answer"), html.index("Got: ones / 9")
    assert title < params < sentence < checked < expected < got
    assert html.count("divisor ignored: blur must use") == 1  # the sentence leads; the feedback does not repeat it


@pytest.mark.parametrize("visibility", ["hidden", "after_published"])
def test_a_withheld_case_shows_only_its_name_and_points(tmp_path, visibility):
    secret = _failed("q2.filter_cv2[secret-case]", q2.SATURATION(), "SECRET-OUTPUT", visibility=visibility)
    html = _page([secret, {"name": "q2.kernel[blur]", "score": 2.5, "max_score": 2.5, "status": "passed", "output": "", "visibility": "visible"}],
                 tmp_path, status="timeout")
    assert "q2.filter_cv2[secret-case]: 0 / 1.5" in html
    assert "SECRET-OUTPUT" not in html and "uint8 saturation" not in html and "q2.saturation" not in html
    assert "All 2 checks passed" not in html
    assert 'href="results.json"' not in html  # it holds every case's output


def test_a_withheld_case_keeps_the_grading_log_off_the_page(tmp_path):
    (tmp_path / "grading.log").write_text("FAILED q2.filter_cv2[secret-case] - SECRET-OUTPUT\n")
    secret = _failed("q2.filter_cv2[secret-case]", q2.SATURATION(), "x", visibility="hidden")
    assert "SECRET-OUTPUT" not in _page([secret], tmp_path, status="timeout")
    shown = _failed("q2.filter_cv2[case]", q2.SATURATION(), "x")
    assert "SECRET-OUTPUT" in _page([shown], tmp_path, status="timeout")


def test_an_after_due_date_case_is_shown(tmp_path):
    html = _page([_failed("q2.filter_cv2[case]", q2.SATURATION(), "VISIBLE-OUTPUT", visibility="after_due_date")], tmp_path)
    assert "VISIBLE-OUTPUT" in html and "uint8 saturation" in html


def test_no_absolute_path_of_the_grading_machine_reaches_the_page(tmp_path):
    (tmp_path / "grading.log").write_text(f"{TRACEBACK}\nwrote /tmp/grades/students/ann/q2/input.png\n")
    test = _failed("q1.pool2d[max-uint8]", None, f"raised TypeError: see {WORKER}/q1.py", detail=TRACEBACK)
    gallery = {"note": f"No pictures: {WORKER}/q2.py failed to import", "kernels": []}
    html = _page([test], tmp_path, status="crashed", gallery=gallery, reason=f"crashed in /tmp/grades/.staging/ann: {WORKER}/q1.py")
    assert not INSTRUCTOR_PATHS.search(html), INSTRUCTOR_PATHS.search(html)
    assert 'File "q1.py", line 12' in html.replace("&quot;", '"')
    assert 'File "numpy/core/fromnumeric.py", line 59' in html.replace("&quot;", '"')
    assert "<td>ann.zip</td>" in html  # graded from: the submission's name


@pytest.mark.parametrize(
    "text, shown",
    [
        (f'File "{WORKER}/q1.py", line 3', 'File "q1.py", line 3'),
        ("/tmp/hw9-worker-ab/work/out.npy", "work/out.npy"),
        ('File "$TMPDIR/hw9-worker-x1/submission/q2.py", line 7', 'File "q2.py", line 7'),
        ("/home/prof/course/class/s1", "class/s1"),
        ("ones((3, 3)) / 9 and sobel_x/sobel_y", "ones((3, 3)) / 9 and sobel_x/sobel_y"),
        ("https://docs.example.org/a/b", "https://docs.example.org/a/b"),
    ],
    ids=["worker-submission", "worker-work", "worker-in-moved-tmpdir", "other-absolute", "formula-untouched", "url-untouched"],
)
def test_relativise(text, shown):
    assert relativise(text) == shown


def test_the_difference_scale_is_printed_under_the_difference_image(tmp_path):
    outputs = {
        "filter_cv2": {"image": "blur-filter_cv2.png", "shape": [64, 64, 3], "dtype": "float32", "difference": "blur-filter_cv2-difference.png",
                       "max_abs_difference": 0.44, "difference_scale": 0.44, "beyond_tolerance": 37, "pixels": 4096},
        "filter_keras": {"image": "blur-filter_keras.png", "shape": [64, 64, 3], "dtype": "float32", "difference": "blur-filter_keras-difference.png",
                         "max_abs_difference": 2e-6, "difference_scale": 0.0, "beyond_tolerance": 0, "pixels": 4096},
    }
    gallery = {"input": "input.png", "shape": [64, 64, 3], "normalisation": "n", "kernels": [{"kernel": "blur", "reference": "blur-reference.png", "outputs": outputs}]}
    passed = {"name": "q2.kernel[blur]", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "", "visibility": "visible"}
    html = _page([passed], tmp_path, gallery=gallery)
    assert "37 of 4096 pixels beyond tolerance<br>white = |diff| 0.44" in html
    assert "all 4096 pixels within tolerance (black)" in html


# ---- the Q2 difference image -------------------------------------------------------------------

def _blurred_test_image():
    image, kernel = gallery_images.test_image(), q2.contract_kernel("blur")
    return image, kernel, conv.filter2d(image, kernel)


def test_a_difference_beyond_tolerance_is_visible_however_small_next_to_the_reference():
    image, kernel, reference = _blurred_test_image()
    rtol, atol = tolerance.filter_tolerance(image, kernel)
    got = reference + atol / 2  # float32 noise: within tolerance everywhere
    got[10, 20, 0] += 0.44  # invisible at 255 * 0.44 / max|reference|
    got[30, 5, 2] += 0.2
    got[40, 40, 1] = np.nan
    pixels, scale = gallery_images.difference_display(got, reference, rtol, atol)
    assert pixels.dtype == np.uint8 and pixels.shape == reference.shape
    assert pixels[10, 20, 0] == 255 and pixels[40, 40, 1] == 255  # the largest difference and NaN: white
    assert gallery_images.GREY_BEYOND <= pixels[30, 5, 2] < 255
    assert np.count_nonzero(pixels) == 3  # within tolerance: black
    assert scale == {"difference_scale": pytest.approx(0.44 + atol / 2, rel=1e-9), "beyond_tolerance": 3, "pixels": 64 * 64}


def test_all_within_tolerance_is_all_black():
    image, kernel, reference = _blurred_test_image()
    pixels, scale = gallery_images.difference_display(reference.astype(np.float32), reference, 1e-5, 1e-3)
    assert not pixels.any() and scale == {"difference_scale": 0.0, "beyond_tolerance": 0, "pixels": 64 * 64}


def test_the_gallery_uses_the_checks_tolerance_and_records_the_scale(tmp_path):
    assert q2_checks.filter_tolerance is tolerance.filter_tolerance
    image, kernel, reference = _blurred_test_image()
    submission = SimpleNamespace(call=lambda *args, **kwargs: CallResult(True, value=np.rint(reference).astype(np.float32)))
    entry = gallery_plugin._one_output(submission, "filter_cv2", image, kernel, reference, "blur-filter_cv2", tmp_path)
    assert entry["tolerance"] == dict(zip(("rtol", "atol"), tolerance.filter_tolerance(image, kernel)))
    assert 0.4 < entry["difference_scale"] <= 0.5 and entry["difference_scale"] == pytest.approx(entry["max_abs_difference"], rel=1e-6)
    assert 0 < entry["beyond_tolerance"] <= entry["pixels"] == 64 * 64
    assert (tmp_path / entry["difference"]).is_file()
    imported = subprocess.run([sys.executable, "-c", "import sys, graders.batch.gallery_plugin; print([m for m in sys.modules if m.endswith('.checks')])"],
                              capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
