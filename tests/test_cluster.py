"""hw9-grade --cluster ray: the driver's pieces here; a class graded on a local Ray instance under `slow`."""
import argparse
import json
import os
import re
import shutil
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from graders.batch import arguments, cluster, judges, merge, remote, runner, store
from graders.batch.store import Status
from tests.batch_helpers import HW9_GRADE, PROJECT_ROOT, gradebook, zip_submission

ray = pytest.importorskip("ray", reason="Ray is the cluster extra (pip install 'hw9-grader[cluster]')")
CORPUS = PROJECT_ROOT / "fixtures" / "submissions"
CLASS_ENTRIES = ("valid-functional-oneliners", "q1-minmax-swapped", "q4-padding-once", "hostile-sigsegv", "hostile-class-attacker",
                 "notebook-helper-after-use")
# Its answer is a tally of what it found around it (files, processes), which differs from run to run: its
# checks and scores must match, its echoed answer cannot.
FEEDBACK_VARIES = {"hostile-class-attacker"}
WITH_TRAINING_TASK = {"valid-functional-oneliners", "notebook-helper-after-use"}  # the entries with a Q3
RAY_BIN = Path(sys.executable).with_name("ray")
# --slow without CIFAR-10, here and on the nodes: the training checks run as their own task and skip, saying so.
ENVIRONMENT = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_") and key != judges.CIFAR10_ENV}


# --- the command line -------------------------------------------------------------------------

@pytest.mark.parametrize("text, address", [("ray", ""), ("ray:10.0.0.5:6379", "10.0.0.5:6379"), ("ray:auto", "auto")])
def test_cluster_names_ray_and_an_optional_address(text, address):
    assert arguments.parse_cluster(text) == arguments.ClusterSpec(address)


@pytest.mark.parametrize("text", ["slurm", "ray:", "ray: ", "dask:host:1"])
def test_another_cluster_is_refused_echoing_it(text):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(repr(text))):
        arguments.parse_cluster(text)


def test_without_ray_the_cluster_option_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(cluster.ClusterError, match=re.escape("pip install 'hw9-grader[cluster]'")):
        cluster.connect(arguments.ClusterSpec())


@pytest.mark.parametrize("slow, gpu, training, expected", [
    (False, False, False, ""), (True, False, False, judges.SLOW_SELECTION), (False, True, False, judges.GPU_SELECTION),
    (True, True, False, judges.EVERY_SELECTION), (True, False, True, "slow"), (False, True, True, "gpu"), (True, True, True, "slow or gpu"),
])
def test_marker_selection(slow, gpu, training, expected):
    options = judges.GradingOptions(jobs=1, timeout=60, slow=slow, gpu=gpu, training_only=training)
    assert judges.marker_selection(options) == expected


# --- what travels to a node and back ----------------------------------------------------------

def _job(tmp_path, entry="valid-functional-oneliners", student="alice"):
    layout = store.Layout(tmp_path / "out")
    source = tmp_path / "class" / student
    shutil.copytree(CORPUS / entry, source, ignore=shutil.ignore_patterns("expected.yaml"))
    job = runner.Job(student=student, source=source, fingerprint="f", staging=layout.new_staging(student),
                     scratch=layout.new_staging(student + ".work"), submission=source, started=time.monotonic())
    return layout, job


def test_options_reach_the_node_whole_but_for_what_the_node_decides(tmp_path):
    options = judges.GradingOptions(jobs=4, timeout=77, questions=("q1", "q3"), seed=5, slow=True, worker_memory_gb=3.0,
                                    require_sandbox="landlock", rubric=tmp_path / "r.yaml", fork_server_fd=9, fork_server_pid=99)
    fields = json.loads(json.dumps(remote.options_fields(options)))
    on_node = remote.node_options(fields, tmp_path / "node.yaml", cores=2)
    assert on_node == replace(options, rubric=tmp_path / "node.yaml", jobs=1, cores=2, preload=False, fork_server_fd=None, fork_server_pid=None)


def test_a_submission_travels_as_the_worker_would_read_it(tmp_path):
    folder = tmp_path / "s"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "q1.py").write_text("x = 1\n")
    (folder / "__pycache__" / "q1.cpython-311.pyc").write_bytes(b"\0")
    (folder / "link.py").symlink_to("/etc/passwd")
    os.mkfifo(folder / "pipe")
    unpacked = remote.unzip_bytes(remote.zip_folder(folder), tmp_path / "node")
    assert sorted(path.name for path in unpacked.rglob("*")) == ["q1.py"]
    assert (unpacked / "q1.py").read_text() == "x = 1\n"


def _node_folder(tmp_path, job, status=Status.GRADED, tests=None, name="node"):
    """A student folder as a node commits it, naming the node's own paths."""
    home = tmp_path / name
    student_dir, source = home / "out" / "students" / job.student, home / "submission"
    student_dir.mkdir(parents=True)
    tests = tests if tests is not None else [{"name": "q1.pool2d[max]", "score": 1.0, "max_score": 1.0, "output": f"read {source}/q1.py"}]
    results = {"score": sum(test["score"] for test in tests), "max_score": sum(test["max_score"] for test in tests), "tests": tests,
               "output": f"graded in {student_dir}", "extra_data": {"hw9": {"restarts": 1, "forked_worker_cpu_seconds": 0.5}}}
    (student_dir / "results.json").write_text(json.dumps(results))
    (student_dir / "grading.log").write_text(f"log of {source}/q1.py\n")
    record = store.Record(student=job.student, status=status, reason=f"as seen in {source}", source=str(source), cpu_seconds=2.0, sandbox="namespaces")
    (student_dir / "record.json").write_text(json.dumps(store.asdict(record)))
    return remote.NodeResult(remote.zip_folder(student_dir), str(student_dir), str(source), "node-a", 1234)


def test_the_driver_commits_a_node_folder_with_its_own_paths(tmp_path):
    layout, job = _job(tmp_path)
    result = _node_folder(tmp_path, job)
    options = judges.GradingOptions(jobs=1, timeout=60)
    record = merge.commit_parts(layout, options, [cluster.Part(job, False, result=result)])
    folder = layout.student_dir("alice")
    results = json.loads((folder / "results.json").read_text())
    assert results["tests"][0]["output"] == f"read {job.source.absolute()}/q1.py"
    assert results["output"] == f"graded in {folder.absolute()}"
    assert (folder / "grading.log").read_text() == f"log of {job.source.absolute()}/q1.py\n"
    assert results["extra_data"]["hw9"]["cluster"] == [{"node": "node-a", "worker_pid": 1234, "training": False}]
    assert (record.status, record.fingerprint, record.source, record.scores, record.cpu_seconds) == (
        Status.GRADED, "f", str(job.source.absolute()), {"q1": 1.0}, 2.0)
    assert store.load_records(layout) == {"alice": record} and not job.scratch.exists()


def test_training_checks_join_the_grading_in_question_order(tmp_path):
    layout, job = _job(tmp_path)
    main = _node_folder(tmp_path, job, tests=[
        {"name": "q3.search_space[lr]", "score": 1.0, "max_score": 1.0, "output": ""},
        {"name": "q4.dense_params", "score": 0.0, "max_score": 1.0, "output": "wrong"}])
    training = _node_folder(tmp_path, job, Status.TIMEOUT, [{"name": "q3.best_model_learns", "score": 2.0, "max_score": 2.0, "output": ""}], "gpu-node")
    record = merge.commit_parts(layout, judges.GradingOptions(jobs=1, timeout=60, slow=True),
                                [cluster.Part(job, False, result=main), cluster.Part(job, True, result=training)])
    results = json.loads((layout.student_dir("alice") / "results.json").read_text())
    assert [test["name"] for test in results["tests"]] == ["q3.search_space[lr]", "q3.best_model_learns", "q4.dense_params"]
    assert (results["score"], results["max_score"], results["extra_data"]["hw9"]["restarts"]) == (3.0, 4.0, 2)
    assert record.status is Status.TIMEOUT and record.scores == {"q3": 3.0, "q4": 0.0} and record.cpu_seconds == 4.0
    assert "Q3's training checks:" in record.reason and f"{job.source.absolute()}" in record.reason
    assert results["output"] == f"graded in {layout.student_dir('alice').absolute()}\nQ3's training checks: as seen in {job.source.absolute()}"
    assert "===== Q3's training checks (--slow/--gpu), graded on node node-a =====" in (layout.student_dir("alice") / "grading.log").read_text()


@pytest.mark.parametrize("failure", [Status.TIMEOUT, Status.CRASHED])
def test_a_failed_main_task_is_one_record_with_the_reason(tmp_path, failure):
    layout, job = _job(tmp_path)
    outcome = judges.Outcome(failure, "the task's node died 3 times")
    record = merge.commit_parts(layout, judges.GradingOptions(jobs=1, timeout=60), [cluster.Part(job, False, failure=outcome)])
    assert (record.status, record.reason, record.scores) == (failure, "the task's node died 3 times", {})
    assert record.fingerprint == ("" if failure is Status.CRASHED else "f")  # a crash is graded again next run


def test_a_node_with_other_grader_code_refuses_to_grade(tmp_path):
    task = remote.NodeTask(student="alice", submission=b"", rubric=b"", options={}, code_fingerprint="not this code")
    with pytest.raises(remote.NodeMismatch, match="install the same on every node"):
        remote.grade_on_node(task)


class _FakeRay:
    """The few calls ClusterRunner makes, for a task that never ends."""

    class exceptions:
        RayError = TaskCancelledError = RayTaskError = Exception

    def __init__(self):
        self.cancelled = []

    def wait(self, refs, num_returns, timeout):
        return [], refs

    def cancel(self, ref, force):
        self.cancelled.append((ref, force))


def test_a_task_past_its_deadline_is_cancelled_and_counted_as_a_timeout(tmp_path):
    layout, job = _job(tmp_path)
    fake = _FakeRay()
    running = cluster.ClusterRunner(layout, judges.GradingOptions(jobs=1, timeout=60), print, connection=cluster.Connection(fake, 2, 0, 1))
    running.parts["ref"] = cluster.Part(job, False, "ref", deadline=time.monotonic() - 1)
    (ended,) = running._collect(fake)
    assert fake.cancelled == [("ref", True)] and not running.parts
    assert ended.failure.status is Status.TIMEOUT and "cancelled" in ended.failure.reason


@pytest.mark.parametrize("error, status, words", [
    (ray.exceptions.TaskCancelledError(), Status.TIMEOUT, "cancelled"),
    (ray.exceptions.WorkerCrashedError(), Status.CRASHED, "died, 3 times"),
    (ray.exceptions.NodeDiedError("node 10.0.0.5 is gone"), Status.CRASHED, "died, 3 times"),
])
def test_what_a_failed_task_means_for_the_gradebook(error, status, words):
    outcome = cluster.failure_outcome(error, ray, retries=2)
    assert outcome.status is status and words in outcome.reason


def test_training_checks_need_gpu_nodes_and_the_cluster_says_so(tmp_path):
    _, job = _job(tmp_path)
    options = judges.GradingOptions(jobs=1, timeout=60, slow=True)
    assert "has none" in cluster.problem([job], options, cluster.Connection(None, 8, 0, 2))
    assert cluster.problem([job], options, cluster.Connection(None, 8, 1, 2)) == ""
    assert cluster.problem([job], replace(options, questions=("q1",)), cluster.Connection(None, 8, 0, 2)) == ""


# --- a local Ray instance (slow) ----------------------------------------------------------------

def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A Ray head on this machine (2 CPUs, 1 GPU as a resource, no dashboard); its address and environment.

    `ray stop --force` at the end stops every Ray process of the machine: run these tests where no other Ray runs.
    """
    port = _free_port()
    # Token authentication, as a cluster should run; Ray 2.60 no longer makes the token itself.
    env = {**ENVIRONMENT, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    started = subprocess.run([str(RAY_BIN), "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=1",
                              "--include-dashboard=false", "--disable-usage-stats"], env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    yield f"127.0.0.1:{port}", env
    subprocess.run([str(RAY_BIN), "stop", "--force"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def a_class(tmp_path_factory):
    """Corpus entries as a class (a zip and an invalid one among them), graded locally once."""
    folder = tmp_path_factory.mktemp("class")
    for entry in CLASS_ENTRIES:
        shutil.copytree(CORPUS / entry, folder / entry, ignore=shutil.ignore_patterns("expected.yaml"))
    zip_submission(folder / "zipped.zip", {"hw9/q1.py": CORPUS / "q1-minmax-swapped" / "q1.py"})
    (folder / "empty").mkdir()
    local = folder.parent / "local"
    completed = subprocess.run([*HW9_GRADE, str(folder), "--out", str(local), "--jobs", "2", "--slow"], cwd=PROJECT_ROOT,
                               env=ENVIRONMENT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 3, completed.stdout + completed.stderr  # the empty one is invalid
    return folder, local


def _uid_free(text):
    return re.sub(r"uid \d+", "uid N", text)  # each worker's uid is drawn afresh


def assert_same_grades(local, other):
    assert gradebook(other) == gradebook(local)
    for student in gradebook(local):
        mine, theirs = (json.loads((out / "students" / student / "results.json").read_text()) for out in (local, other))
        fields = ("name", "score", "max_score") + (() if student in FEEDBACK_VARIES else ("output",))
        assert [[t.get(key) for key in fields] for t in theirs["tests"]] == [[t.get(key) for key in fields] for t in mine["tests"]], student
        assert _uid_free(theirs["output"]) == _uid_free(mine["output"]), student
        files = [sorted(p.relative_to(out / "students" / student).as_posix() for p in (out / "students" / student).rglob("*")) for out in (local, other)]
        assert files[0] == files[1], student


def _grading_tasks():
    """pids of Ray workers running a grading task now (Ray names them after the function)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                if stream.read().startswith(b"ray::grade_on_node"):
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def _kill_a_grading_task(driver):
    """SIGKILL the first Ray worker seen grading, a few seconds into its task; its pid."""
    deadline, victim = time.monotonic() + 120, None
    while victim is None and time.monotonic() < deadline and driver.poll() is None:
        tasks = _grading_tasks()
        victim = tasks[0] if tasks else None
        time.sleep(0.5)
    assert victim is not None, "no grading task was seen running"
    time.sleep(3)  # mid-run: its node helper is importing or its judge grading
    os.kill(victim, signal.SIGKILL)
    return victim


@pytest.mark.slow
def test_a_class_graded_on_ray_with_a_worker_killed_gets_the_local_grades_once(ray_cluster, a_class, tmp_path):
    """One run with --slow: a Ray worker killed mid-grading is retried, and the grades are the local runner's."""
    address, env = ray_cluster
    folder, local = a_class
    out = tmp_path / "ray"
    command = [*HW9_GRADE, str(folder), "--out", str(out), "--cluster", f"ray:{address}", "--slow"]
    driver = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = _kill_a_grading_task(driver)
    output, _ = driver.communicate(timeout=600)
    assert driver.returncode == 3, output  # the empty one is invalid
    assert f"grading on the Ray cluster ray:{address}: 1 node, 2 CPUs, 1 GPUs: 2 at a time" in output
    assert_same_grades(local, out)
    graded_by = []
    for student in gradebook(out):
        hw9 = json.loads((out / "students" / student / "results.json").read_text()).get("extra_data", {}).get("hw9", {})
        assert student == "empty" or [part["training"] for part in hw9["cluster"]] == [False, True][:1 + (student in WITH_TRAINING_TASK)]
        graded_by += [part["worker_pid"] for part in hw9.get("cluster", [])]
    assert victim not in graded_by and len(graded_by) == len(CLASS_ENTRIES) + 1 + len(WITH_TRAINING_TASK)  # the zip too; one result per task
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())
    committed = {path: path.stat().st_mtime_ns for path in (out / "students").glob("*/record.json")}
    again = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 3 and gradebook(out) == gradebook(local), again.stdout + again.stderr
    assert {path: path.stat().st_mtime_ns for path in committed} == committed  # nothing regraded: the store is the local one


PLACE_TWICE = """
import hashlib, json, sys, ray
from graders.batch import remote
path, name = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
ray.init(address=sys.argv[3], log_to_driver=False)
ref = [ray.put(data)]  # once into the object store, as the driver does


@ray.remote(num_gpus=1)
def place():
    target, placed = remote.node_cifar10(name, hashlib.sha256(data).hexdigest(), ref)
    return str(target), placed


print(json.dumps([ray.get(place.remote()) for _ in range(2)]))
"""


@pytest.mark.slow
def test_the_cifar10_data_is_written_once_per_node(ray_cluster, tmp_path):
    address, env = ray_cluster
    data = tmp_path / "cifar10-test.tar.xz"
    data.write_bytes(os.urandom(4096))
    completed = subprocess.run([sys.executable, "-c", PLACE_TWICE, str(data), data.name, address], cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    (first_path, first_placed), (second_path, second_placed) = json.loads(completed.stdout.strip().splitlines()[-1])
    assert first_path == second_path and Path(first_path).read_bytes() == data.read_bytes()
    assert (first_placed, second_placed) == (True, False)
    Path(first_path).unlink()
