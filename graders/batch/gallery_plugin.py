"""A pytest plugin for batch grading: after the checks, Q2's filters on one picture.

Loaded with `-p graders.batch.gallery_plugin --q2-gallery DIR`. Once the last check
has run, it calls the student's `filter_cv2` and `filter_keras` on `test_image()` with
each contract kernel through the same confined worker the checks used, and writes the
outputs, the float64 reference (`graders.oracles.conv.filter2d`) and their difference (on the
checks' own tolerance, `graders.questions.q2.tolerance`) as PNGs with a `gallery.json`
index. It never changes a grade: any failure becomes a note.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from graders.batch import gallery_images as images
from graders.judge.harness import Failure
from graders.judge.settings import CALL_TIMEOUT_S
from graders.questions.q2.mistakes import KERNEL_NAMES, contract_kernel
from graders.questions.q2.tolerance import filter_tolerance

FUNCTIONS = ("filter_cv2", "filter_keras")
# A function that failed so is not called for the remaining kernels.
GIVE_UP_AFTER = {failure.value for failure in (Failure.TIMEOUT, Failure.CRASH, Failure.MEMORY, Failure.MISSING)}


def pytest_addoption(parser):
    parser.getgroup("hw9").addoption(
        "--q2-gallery", default=None, metavar="DIR", help="after grading, write Q2's filter outputs on a test image to DIR"
    )


@pytest.fixture(scope="session", autouse=True)
def _q2_gallery(request, settings, submission):
    yield
    folder = request.config.getoption("--q2-gallery")
    if folder and (not settings.questions or "q2" in settings.questions):
        write_gallery(submission, Path(folder))


def _one_output(submission, function, image, kernel, reference, stem, folder):
    """The gallery entry of one function on one kernel; PNGs written beside it."""
    result = submission.call("q2", function, image, kernel, timeout=CALL_TIMEOUT_S)
    if not result.ok:
        return {"note": f"{function} failed: {result.message}", "failure": result.failure.value}
    value = result.value
    problem = images.displayable(value)
    if problem:
        return {"note": f"{function} {problem}"}
    entry = {"image": f"{stem}.png", "shape": list(value.shape), "dtype": str(value.dtype)}
    images.write_png(folder / entry["image"], images.to_display(value, reference))
    if value.shape != reference.shape:
        entry["note"] = f"shape {value.shape} differs from the reference's {reference.shape}: no difference image"
        return entry
    entry["difference"] = f"{stem}-difference.png"
    entry["max_abs_difference"] = float(np.nanmax(np.abs(value.astype(np.float64) - reference))) if value.size else 0.0
    rtol, atol = filter_tolerance(image, kernel)
    pixels, scale = images.difference_display(value, reference, rtol, atol)
    entry.update(scale, tolerance={"rtol": rtol, "atol": atol})
    images.write_png(folder / entry["difference"], pixels)
    return entry


def build_gallery(submission, folder):
    """Write the PNGs into `folder`; return the gallery index (a JSON-able dict)."""
    from graders.oracles import conv

    image = images.test_image()
    images.write_png(folder / "input.png", image)
    gallery = {"input": "input.png", "shape": list(image.shape), "normalisation": images.NORMALISATION, "kernels": []}
    imported = submission.import_module("q2")
    if not imported.ok:
        gallery["note"] = f"No pictures: {imported.message}"
        return gallery
    given_up = {}  # function -> why its remaining kernels are skipped
    for name in KERNEL_NAMES:
        kernel = contract_kernel(name)
        reference = conv.filter2d(image, kernel)
        row = {"kernel": name, "reference": f"{name}-reference.png", "outputs": {}}
        images.write_png(folder / row["reference"], images.to_display(reference, reference))
        for function in FUNCTIONS:
            if function in given_up:
                row["outputs"][function] = {"note": given_up[function]}
                continue
            entry = _one_output(submission, function, image, kernel, reference, f"{name}-{function}", folder)
            if entry.get("failure") in GIVE_UP_AFTER:
                given_up[function] = f"not run: {entry['note']}"
            row["outputs"][function] = entry
        gallery["kernels"].append(row)
    return gallery


def write_gallery(submission, folder):
    folder.mkdir(parents=True, exist_ok=True)
    try:
        gallery = build_gallery(submission, folder)
    except Exception as error:  # the pictures are a courtesy: never let them break grading
        gallery = {"note": f"No pictures: making them failed ({type(error).__name__}: {error})", "kernels": []}
    (folder / "gallery.json").write_text(json.dumps(gallery, indent=2))
