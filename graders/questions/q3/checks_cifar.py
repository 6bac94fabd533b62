"""Q3 on real CIFAR-10: the best model learns, the tuner's search runs, and (on a GPU) the full search.

The worker reads a data folder written by the judge (`graders.questions.q3.training`): training images, a
labelled validation split for the tuner, and held-out images whose labels stay with the judge.
Every score here is the judge's accuracy on the worker's predictions for those held-out
images, never a number the worker reports. Every check skips, saying where it looked, when
no CIFAR-10 is found.
"""
from pathlib import Path

import pytest

from graders.judge import answers, mistakes as generic
from graders.judge.verdict import fail, value_of
from graders.questions.q3 import gpu_run, training
from graders.questions.q3 import mistakes as spec
from graders.questions.q3.mistakes import SEARCH_SPACE, in_space

TRAIN_IMAGES, HOLDOUT_IMAGES, VAL_IMAGES = 10_000, 2_000, 500
HOLDOUT = ("holdout",)
TRAIN_EPOCHS, TRAIN_BATCH, TRAIN_SEED = 6, 32, 0
# The reference's build_model(BEST_HPS), 6 epochs (batch 32, Keras's default) on these
# 10,000 JPEG-archive images, scored on the 2,000 held-out ones: 0.462 and 0.439 (seed 0,
# two runs: multithreaded CPU training is not bit-reproducible), 0.490, 0.506, 0.448, 0.455
# (seeds 1-4); mean 0.466, standard deviation 0.026, still rising 0.02-0.04 per epoch.
# Batch 16 did not help (0.469, seed 1). A floor of 0.45 would fail the reference in 2 of
# 6 runs; 0.40 is the mean less 2.5 standard deviations, and a model that does not learn
# stays at 0.10 (0.0975 for the corpus entry q3-cannot-learn-lr). Those 2,000 held-out
# images are the holdout split now (same seed, same images), with their labels kept here.
TRAIN_FLOOR = 0.40

SEARCH_MAX_EPOCHS, SEARCH_TRAIN_IMAGES, SEARCH_BATCH, SEARCH_SEED = 3, 1_000, 32, 0
# max_epochs=3 is Hyperband's smallest search with two brackets and a promoted trial
# (6 trials, 11 epochs), validated on the 500 labelled val images. Chance is 0.10 on ten
# balanced classes, with a standard error of 0.007 on the 2,000 held-out images: 0.15 is
# chance + 7 standard errors. The reference's best trial reached 0.204, 0.180, 0.202 on the
# tuner's validation images for tuner seeds 0, 1, 2 (most trials are SGD or lr 1e-4 and stay
# near chance after 1-3 epochs on 1,000 images); with seed 0 the best trial's model scored
# 0.1925 on the 2,000 held-out images (its own validation score 0.200).
SEARCH_FLOOR = 0.15


@pytest.fixture(scope="module")
def cifar_folder(tmp_path_factory):
    """10,000 training, 500 validation and 2,000 label-less held-out images for the worker, or skip."""
    missing = training.cifar10_missing_reason()
    if missing:
        pytest.skip(f"no CIFAR-10 to train on. {missing}")
    return training.prepare_data_folder(tmp_path_factory.mktemp("cifar10"), TRAIN_IMAGES, VAL_IMAGES, HOLDOUT_IMAGES)


@pytest.fixture
def cifar_student(student_for, cifar_folder):
    # The default 8 GiB address-space limit fits: a worker training here peaked at 4.8 GiB
    # virtual (VmPeak; 1.7 GiB resident), TensorFlow's thread pools and allocator included.
    return student_for(read_paths=[cifar_folder.folder])


@pytest.fixture(scope="module")
def tuner_report_dir(settings, tmp_path_factory):
    """--tuner-report DIR, else beside --grade-json (see `tuner_report_beside`), else a temporary folder."""
    chosen, grade_json = settings.tuner_report, settings.grade_json
    if chosen:
        return Path(chosen)
    if grade_json:
        return tuner_report_beside(grade_json)
    return tmp_path_factory.mktemp("tuner-report")


def tuner_report_beside(grade_json):
    """`tuner-report/` beside results.json, `<stem>-tuner-report/` beside any other results
    file: gradings writing their results into one folder keep their reports apart."""
    grade_json = Path(grade_json).resolve()
    return grade_json.parent / ("tuner-report" if grade_json.name == "results.json" else f"{grade_json.stem}-tuner-report")


def _read(reader, answer, checked, *args):
    """The reader's value, or fail: a malformed answer is a wrong answer."""
    value, problem = answers.read(reader, answer, *args)
    if problem is None:
        return value
    fail(checked, "a well-formed raw answer from the worker", f"the worker's answer is malformed: {problem}", generic.FORGED())


def _holdout_accuracy(probabilities, labels, checked):
    predictions, problem = answers.read(training.predicted_classes, probabilities, labels, "the held-out outputs")
    if problem:
        fail(checked, f"outputs of shape ({len(labels)}, 10) for the held-out images", f"the worker's answer is malformed: {problem}", generic.FORGED())
    return training.accuracy(predictions, labels)


@pytest.mark.slow
def test_best_model_learns(cifar_student, cifar_folder, record_property):
    checked = f"build_model(BEST_HPS) trained {TRAIN_EPOCHS} epochs (batch {TRAIN_BATCH}) on {TRAIN_IMAGES:,} CIFAR-10 images, scored by the judge on {HOLDOUT_IMAGES:,} held-out ones"
    answer = value_of(
        cifar_student.probe("train_best", "q3", data_dir=str(cifar_folder.folder), epochs=TRAIN_EPOCHS, batch_size=TRAIN_BATCH, seed=TRAIN_SEED, predict=HOLDOUT),
        checked,
    )
    trained = _read(training.read_trained, answer, checked, HOLDOUT)
    score = _holdout_accuracy(trained["probabilities"]["holdout"], cifar_folder.holdout_labels, checked)
    trained["outputs"] = training.output_summary(trained["probabilities"]["holdout"])
    history = "\n".join(training.history_lines(trained["history"]))
    if score < TRAIN_FLOOR:
        cause = training.learning_mistake(trained, trained["values"])
        mistake = spec.DOES_NOT_LEARN(cause=cause) if cause else spec.LEARNS_SLOWLY(floor=TRAIN_FLOOR, epochs=TRAIN_EPOCHS)
        fail(checked, f"held-out accuracy >= {TRAIN_FLOOR}", f"{score:.4f}", mistake, detail=history)
    record_property("output", f"{checked}: held-out accuracy {score:.4f} (floor {TRAIN_FLOOR}), {trained['fit_seconds']:.0f} s of training\n{history}")


@pytest.mark.slow
def test_tuner_search(cifar_student, cifar_folder, tuner_report_dir, record_property):
    checked = (
        f"make_tuner(directory, max_epochs={SEARCH_MAX_EPOCHS}, seed={SEARCH_SEED}).search(...) on {SEARCH_TRAIN_IMAGES:,} CIFAR-10 images "
        f"validated on {VAL_IMAGES:,}, its best model scored by the judge on {HOLDOUT_IMAGES:,} held-out ones"
    )
    answer = value_of(
        cifar_student.probe(
            "search", "q3", data_dir=str(cifar_folder.folder), max_epochs=SEARCH_MAX_EPOCHS, batch_size=SEARCH_BATCH,
            seed=SEARCH_SEED, train_images=SEARCH_TRAIN_IMAGES, predict=HOLDOUT,
        ),
        checked,
    )
    search = _read(training.read_search, answer, checked, HOLDOUT)
    probabilities = search["best_model_probabilities"]
    score = None if probabilities is None else _holdout_accuracy(probabilities["holdout"], cifar_folder.holdout_labels, checked)
    title = f"CPU check: Hyperband max_epochs={SEARCH_MAX_EPOCHS}, {SEARCH_TRAIN_IMAGES:,} training images"
    files = training.write_tuner_report(search, tuner_report_dir, "cpu-search", title, floor=SEARCH_FLOOR)
    table = training.format_trials(search)
    record_property("output", f"{training.search_summary(search, score)}\ntuner report: {', '.join(map(str, files))}")
    if search["error"]:
        fail(checked, "the search to run to its end", search["error"], spec.SEARCH_STOPPED(), detail=table)
    failed = {trial["trial_id"]: trial["error"] or trial["status"] for trial in search["trials"] if trial["status"] != "COMPLETED"}
    if not search["trials"] or failed:
        fail(checked, "every trial COMPLETED", failed or "no trial ran", spec.TRIALS_FAILED(), detail=table)
    best = search["best"] or {"values": {}}
    outside = {name: best["values"].get(name, "missing") for name in SEARCH_SPACE if not in_space(name, best["values"].get(name))}
    if outside:
        fail(checked, "best hyperparameters inside the contract's space", outside, spec.SEARCH_SPACE_DIFFERS(), detail=table)
    if score is None:
        fail(checked, "the tuner's best model to predict the held-out images", search["best_model_error"] or "no best model", spec.BEST_MODEL_UNLOADABLE(), detail=table)
    if score < SEARCH_FLOOR:
        fail(checked, f"the best model's held-out accuracy >= {SEARCH_FLOOR} (chance is {training.CHANCE_ACCURACY})", f"{score:.4f}", spec.NO_TRIAL_LEARNS(), detail=table)
    record_property("output", table)


@pytest.mark.gpu
def test_full_search_gpu(student_for, tuner_report_dir, tmp_path_factory, record_property):
    missing = gpu_run.gpu_missing_reason() or training.cifar10_missing_reason()
    if missing:
        pytest.skip(f"the full search needs a GPU and CIFAR-10: {missing}")
    settings = gpu_run.FullRunSettings()
    data = gpu_run.prepare_data(tmp_path_factory.mktemp("cifar10-full"), settings)
    # No address-space cap: CUDA maps device memory into the worker's virtual address space.
    student = student_for(read_paths=[data.folder], memory_gb=0, allow_gpu=True)
    result = gpu_run.run_full_check(
        lambda name, **params: student.probe(name, "q3", **params), value_of, data, settings, tuner_report_dir, log=lambda _: None,
        reject=lambda checked, problem: fail(checked, "a well-formed raw answer from the worker", f"the worker's answer is malformed: {problem}", generic.FORGED()),
    )
    problems = result.failures()
    if problems:
        fail(
            "the contract's search (make_tuner(max_epochs=10), 30 trials) on the training set less 5,000 held-out images, the best model retrained 50 epochs, then the test set",
            f"the tuner's best model >= {gpu_run.BEST_VAL_FLOOR} on the held-out images, test accuracy >= {gpu_run.TEST_FLOOR} (both scored by the judge), every trial completed",
            "; ".join(problems),
            detail=result.summary(),
        )
    record_property("output", result.summary())
