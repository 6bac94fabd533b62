"""One submission graded on a cluster node: the local runner, in a folder of its own.

A Ray task (graders/batch/cluster.py) calls `grade_on_node` with a NodeTask: the
submission's files as zip bytes, the rubric's bytes and the grading options. It unpacks
them into a new folder and asks its node helper (`python -m graders.batch.remote`, one per
Ray worker, single-threaded: a Ray worker runs threads, and the runner forks) to grade
it with the same Runner, preloaded judges, fork server and sandbox as a local run, which
commits the student's folder there. The task returns that folder as zip bytes; the
driver commits it.
"""
import dataclasses
import functools
import hashlib
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from graders.batch import judges, processes, store
from graders.batch.inputs import submission_files, submission_root
from graders.batch.runner import Job, Runner
from graders.batch.unzip import ZipLimits, extract_zip
from graders.judge import warm
from graders.judge.safe_files import read_regular_file
from graders.threads import SINGLE_THREAD

TASK_FILE = "task.json"
# Past the grading's own time limit, what the node process may take to unpack, start and commit.
NODE_MARGIN_SECONDS = 120.0
DATA_FOLDER = "hw9-grader-cifar10"  # under the node's temporary folder: the CIFAR-10 data, once per node
# A committed student folder (results, log, Q2 gallery) is bounded by the judge, not by the submission limits.
RESULT_LIMITS = ZipLimits(max_bytes=512 * 2**20, max_files=10_000, max_archive_bytes=512 * 2**20)


class NodeMismatch(Exception):
    """This node's grader code differs from the driver's: its grade would not be the driver's grade."""


@dataclass(frozen=True)
class NodeTask:
    """What travels to the node for one grading (or one part of it)."""

    student: str
    submission: bytes  # the submission folder, zipped by the driver
    rubric: bytes
    options: dict  # judges.GradingOptions as JSON-able fields (rubric and fork server left out)
    code_fingerprint: str  # the driver's grader code; the node refuses to grade with other code
    cifar10_name: str = ""  # the data's file name on the driver ("" none): its suffix says its format
    cifar10_digest: str = ""


@dataclass(frozen=True)
class NodeResult:
    """What comes back: the committed student folder, zipped, and where it was on the node."""

    folder: bytes
    student_dir: str  # the paths the node's results name, which the driver replaces with its own
    source: str
    node: str
    worker_pid: int = 0  # the Ray worker that ran the task (a retried task: the last one)


def zip_folder(folder, limit=RESULT_LIMITS.max_bytes):
    """A folder's regular files as zip bytes, as a grading copies them: no links, special files or __pycache__."""
    buffer, budget = io.BytesIO(), limit
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in submission_files(folder):
            data = read_regular_file(Path(folder) / relative, budget)
            budget -= len(data)
            archive.writestr(relative.as_posix(), data)
    return buffer.getvalue()


def unzip_bytes(data, destination, limits=ZipLimits()):
    """Unpack zip bytes into `destination` with the submission zip's checks (graders/batch/unzip.py)."""
    destination = Path(destination)
    with tempfile.NamedTemporaryFile(suffix=".zip") as archive:
        archive.write(data)
        archive.flush()
        return extract_zip(Path(archive.name), destination, limits)


def options_fields(options):
    """GradingOptions as JSON: what a node needs (its own rubric path, no fork server, no preloading)."""
    fields = dataclasses.asdict(options)
    for name in ("rubric", "fork_server_fd", "fork_server_pid", "preload", "jobs", "cores"):
        fields.pop(name)
    fields["questions"] = list(fields["questions"])
    return fields


def node_options(fields, rubric, cores):
    """The options a node grades with: one judge, `cores` threads, fresh interpreters."""
    return judges.GradingOptions(**{**fields, "questions": tuple(fields["questions"])}, rubric=rubric, jobs=1, cores=cores, preload=False)


def node_cifar10(name, digest, data_ref):
    """The node's copy of the driver's CIFAR-10 data: written once per node, then reused.

    `data_ref` is a list holding the data's Ray object reference, so that the bytes are
    fetched to this node only when no task here has written them yet.
    """
    folder = Path(tempfile.gettempdir()) / DATA_FOLDER
    folder.mkdir(mode=0o755, exist_ok=True)
    target = folder / f"{digest}-{Path(name).name}"
    if target.is_file():
        return target, False
    import ray

    data = ray.get(data_ref[0])
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"the CIFAR-10 data that reached {socket.gethostname()} is not the driver's")
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as partial:
        partial.write(data)
    os.chmod(partial.name, 0o644)
    os.replace(partial.name, target)  # another task writing the same bytes at once is harmless
    return target, True


@functools.cache
def code_fingerprint():
    """This node's grader code and library versions, hashed once per Ray worker (its modules are loaded once too)."""
    from graders.batch.fingerprint import grader_fingerprint

    return grader_fingerprint({})


def grade_on_node(task, data_ref=None, cores=1):
    """The Ray task's body: grade `task` on this node and return a NodeResult."""
    node = socket.gethostname()
    if code_fingerprint() != task.code_fingerprint:
        raise NodeMismatch(f"node {node} has other hw9-grader code or library versions than the driver: install the same on every node")
    environment = {}
    if task.cifar10_name and data_ref:
        path, _ = node_cifar10(task.cifar10_name, task.cifar10_digest, data_ref)
        environment = {judges.CIFAR10_ENV: str(path), "HW9_CACHE": os.environ.get("HW9_CACHE") or str(path.parent / "cache")}
    with tempfile.TemporaryDirectory(prefix="hw9-node-") as home:
        home = Path(home)
        unzip_bytes(task.submission, home / "submission")  # within the submission limits, as the driver's copy was
        (home / "rubric.yaml").write_bytes(task.rubric)
        (home / TASK_FILE).write_text(json.dumps({"student": task.student, "options": task.options, "cores": cores}))
        _node_helper().grade(home, environment, float(task.options["timeout"]) + NODE_MARGIN_SECONDS)
        folder = store.Layout(home / "out").student_dir(task.student)
        if store.read_record(folder) is None:
            raise RuntimeError(f"the grading on node {node} committed no record")
        return NodeResult(zip_folder(folder), str(folder), str((home / "submission").absolute()), node, os.getpid())


class NodeHelper:
    """A process of this Ray worker that imported the judges' libraries once and grades folders on request.

    A Ray worker runs threads, and forking judges needs a single-threaded process: this
    one is that process, as hw9-grade is locally (preloaded judges, one fork server).
    """

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-m", "graders.batch.remote"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def alive(self):
        return self.process.poll() is None

    def grade(self, home, environment, timeout):
        """Grade the task in `home`; RuntimeError (and this helper stopped) when it cannot."""
        request = json.dumps({"home": str(home), "environment": environment}) + "\n"
        try:
            self.process.stdin.write(request.encode())
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            answer = json.loads(self.process.stdout.readline() or b"{}") if ready else {"error": f"no answer within {timeout:g} s"}
        except (OSError, ValueError) as error:
            answer = {"error": f"{type(error).__name__}: {error}"}
        if "error" in answer or not answer:
            self.stop()
            raise RuntimeError(f"the grading on node {socket.gethostname()} failed: {answer.get('error', 'the node helper ended')}")

    def stop(self):
        processes.kill_tree(self.process.pid)
        self.process.wait()


_helper = None  # this Ray worker's NodeHelper, started by its first task


def _node_helper():
    global _helper
    if _helper is None or not _helper.alive():
        _helper = NodeHelper()
    return _helper


def grade_folder(home, preload, fork_server):
    """Grade the task in `home` with the local runner; its student folder is committed under home/out."""
    task = json.loads((home / TASK_FILE).read_text())
    options = node_options(task["options"], home / "rubric.yaml", int(task["cores"]))
    options = dataclasses.replace(options, preload=preload)
    if options.warm_workers and fork_server is not None:
        options = dataclasses.replace(options, fork_server_fd=fork_server.control.fileno(), fork_server_pid=fork_server.process.pid)
    layout = store.Layout(home / "out")
    student = task["student"]
    job = Job(student=student, source=home / "submission", fingerprint="", staging=layout.new_staging(student),
              scratch=layout.new_staging(student + ".work"), submission=submission_root(home / "submission"))
    Runner(layout, options, on_record=lambda record: None).run([job])


def serve():
    """The node helper: import the libraries, start a fork server, then grade each folder asked for on stdin."""
    parent = os.getppid()
    processes._prctl(processes._PR_SET_PDEATHSIG, signal.SIGKILL)  # it ends with its Ray worker
    if os.getppid() != parent:
        return 1
    os.environ.update(SINGLE_THREAD)  # as hw9-grade: this process forks the judges
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a library prints stays off the answers
    fork_server = warm.start_fork_server()
    os.set_inheritable(fork_server.control.fileno(), True)
    preload = not judges.preload_libraries()
    base = dict(os.environ)
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update({**base, **request["environment"]})  # the judges' environment is this one's
        try:
            grade_folder(Path(request["home"]), preload, fork_server)
            answer = {"ok": True}
        except Exception as error:  # reported to the task, which fails and says why
            answer = {"error": f"{type(error).__name__}: {error}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    fork_server.close()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
