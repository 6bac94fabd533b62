"""`hw9-grade --cluster ray[:ADDRESS]`: every submission graded as a Ray task on a node of a cluster.

This process (the driver) prepares the submissions as a local run does (zips unpacked,
invalid ones refused here), sends each one's files through Ray's object store to a task
that grades it on a node with the local runner, judge and sandbox (graders/batch/remote.py),
and commits what comes back into the same `--out` store: one record per submission,
however often Ray retried its task. With --slow/--gpu, Q3's CIFAR-10 and GPU checks are a
second task per submission that asks for a GPU, so it runs only on GPU nodes; the data
goes into the object store once and is written to each node's disk once.
"""
import hashlib
import math
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from graders.batch import judges, merge, remote, store
from graders.batch.runner import finish
from graders.batch.store import Status

RAY_MISSING = "--cluster ray needs Ray here and on every node: pip install 'hw9-grader[cluster]'"
MAX_RETRIES = 2  # a task whose worker or node died runs again elsewhere at most this often
# Past a task's own limit (the grading's time limit plus the node's margin): its start on a busy node.
DISPATCH_MARGIN_SECONDS = 180.0
POLL_SECONDS = 0.2


class ClusterError(Exception):
    """The cluster cannot be used: nothing is graded, and the message says why."""


@dataclass(frozen=True)
class Connection:
    """A connected cluster: the ray module and what it offers."""

    ray: object
    cpus: float
    gpus: float
    nodes: int

    def describe(self, spec):
        return f"Ray cluster {spec.label}: {self.nodes} node{'s' * (self.nodes != 1)}, {self.cpus:g} CPUs, {self.gpus:g} GPUs"


def connect(spec):
    """Join (or start) the Ray cluster `spec` names; ClusterError says why not."""
    try:
        import ray
    except ImportError:
        raise ClusterError(RAY_MISSING) from None
    if not ray.is_initialized():
        starts_here = not spec.address and not os.environ.get("RAY_ADDRESS")
        settings = {"include_dashboard": False} if starts_here else {}
        try:
            ray.init(address=spec.address or None, log_to_driver=False, **settings)
        except Exception as error:  # ConnectionError, a wrong address, a version mismatch
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                "; a cluster with token authentication (Ray 2.59's default, 2.60's with RAY_AUTH_MODE=token) also wants RAY_AUTH_MODE=token "
                "and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
            raise ClusterError(f"--cluster {spec.label}: cannot join the Ray cluster ({type(error).__name__}: {error}){hint}") from None
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return Connection(ray, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)), nodes)


@dataclass
class Part:
    """One Ray task of a submission's grading: all its default checks, or only its training checks."""

    job: object  # runner.Job
    training: bool
    ref: object = None
    deadline: float = 0.0
    result: remote.NodeResult | None = None
    failure: judges.Outcome | None = None  # why it has no result

    @property
    def done(self):
        return self.result is not None or self.failure is not None


def has_training_part(job, options):
    """Whether `job` gets a GPU task: --slow or --gpu, Q3 graded, and a Q3 to grade."""
    if not (options.slow or options.gpu) or (options.questions and "q3" not in options.questions) or job.invalid:
        return False
    return job.cost(("q3",)) > 0


def problem(jobs, options, connection):
    """Why this cluster cannot grade these jobs with these options, or ""."""
    if connection.cpus < 1:
        return "the Ray cluster has no CPUs to grade on"
    if connection.gpus < 1 and any(has_training_part(job, options) for job in jobs):
        return ("--slow/--gpu on a cluster run Q3's training checks on GPU nodes, and this cluster has none "
                "(join one with `ray start --address=HEAD:PORT --num-gpus=N`)")
    return ""


def cifar10_file():
    """(path, digest) of $HW9_CIFAR10 when it is a file to send to the nodes; (None, "") otherwise."""
    path = os.environ.get(judges.CIFAR10_ENV, "")
    if not path or not Path(path).is_file():
        return None, ""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return Path(path), digest.hexdigest()


def failure_outcome(error, ray, retries):
    """The Outcome of a task that raised `error` when its result was fetched."""
    exceptions = ray.exceptions
    if isinstance(error, exceptions.TaskCancelledError):
        return judges.Outcome(Status.TIMEOUT, "grading did not finish in time on the cluster and its task was cancelled")
    if isinstance(error, exceptions.RayTaskError):  # the task itself raised: a node problem, never retried
        cause = getattr(error, "cause", None) or error
        return judges.Outcome(Status.CRASHED, f"the grading task failed: {type(cause).__name__}: {_first_line(cause)}")
    return judges.Outcome(Status.CRASHED, f"the grading task's worker or node died, {retries + 1} times ({type(error).__name__}: {_first_line(error)})")


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


@dataclass
class ClusterRunner:
    """Runner's interface (run(jobs), on_record, on_idle) over Ray tasks instead of local judges."""

    layout: store.Layout
    options: judges.GradingOptions
    on_record: object
    on_idle: object = lambda: None
    connection: Connection = None
    cpus_per_judge: float = 1.0
    retries: int = MAX_RETRIES
    parts: dict = field(default_factory=dict)  # ObjectRef -> Part, the tasks in flight

    def run(self, jobs):
        ray = self.connection.ray
        main_jobs = [job for job in jobs if not job.invalid]
        for job in jobs:
            if job.invalid:
                job.started = time.monotonic()
                self.on_record(finish(job, self.layout, self.options, judges.Outcome(Status.INVALID, job.invalid)))
        main_jobs.sort(key=lambda job: job.cost(self.options.questions), reverse=True)
        training_jobs = [job for job in main_jobs if has_training_part(job, self.options)]
        self._prepare_tasks(ray, training_jobs)
        queues = {False: deque(main_jobs), True: deque(training_jobs)}
        slots = {False: self.options.jobs, True: max(1, int(self.connection.gpus))}
        pending_parts = {id(job): 1 for job in main_jobs} | {id(job): 2 for job in training_jobs}
        finished_parts = {}
        try:
            while any(queues.values()) or self.parts:
                for training in (False, True):
                    while queues[training] and sum(part.training is training for part in self.parts.values()) < slots[training]:
                        self._dispatch(ray, queues[training].popleft(), training)
                for part in self._collect(ray):
                    finished_parts.setdefault(id(part.job), []).append(part)
                    if len(finished_parts[id(part.job)]) == pending_parts[id(part.job)]:
                        self.on_record(merge.commit_parts(self.layout, self.options, finished_parts.pop(id(part.job))))
                self.on_idle()
        finally:
            for ref, part in self.parts.items():  # interrupted: stop what runs; those students stay ungraded
                ray.cancel(ref, force=True)
                shutil.rmtree(part.job.staging, ignore_errors=True)
                shutil.rmtree(part.job.scratch, ignore_errors=True)
            self.parts.clear()

    def _prepare_tasks(self, ray, training_jobs):
        task = ray.remote(remote.grade_on_node)
        self._cores = max(1, math.ceil(self.cpus_per_judge))  # the node's threads per judge
        self._main_task = task.options(num_cpus=self.cpus_per_judge, max_retries=self.retries, retry_exceptions=False)
        self._training_task = task.options(num_cpus=self.cpus_per_judge, num_gpus=1, max_retries=self.retries, retry_exceptions=False)
        self._rubric = Path(self.options.rubric).read_bytes()
        from graders.batch.fingerprint import grader_fingerprint

        self._code = grader_fingerprint({})
        path, self._cifar10_digest = cifar10_file() if training_jobs else (None, "")
        self._cifar10_name = path.name if path else ""
        self._cifar10_ref = [ray.put(path.read_bytes())] if path else None  # once into the object store

    def _dispatch(self, ray, job, training):
        job.started = job.started or time.monotonic()
        if training:
            options = replace(self.options, training_only=True, questions=("q3",))
        elif has_training_part(job, self.options):
            options = replace(self.options, slow=False, gpu=False)
        else:  # no Q3 to train: its training checks fail at once, here, as in a local run
            options = self.options
        task = remote.NodeTask(
            student=job.student, submission=remote.zip_folder(job.submission, remote.ZipLimits().max_bytes),
            rubric=self._rubric, options=remote.options_fields(options), code_fingerprint=self._code,
            cifar10_name=self._cifar10_name if training else "", cifar10_digest=self._cifar10_digest if training else "",
        )
        function = self._training_task if training else self._main_task
        ref = function.remote(task, self._cifar10_ref if training else None, self._cores)
        limit = self.options.timeout + remote.NODE_MARGIN_SECONDS + DISPATCH_MARGIN_SECONDS
        self.parts[ref] = Part(job, training, ref, time.monotonic() + limit)

    def _collect(self, ray):
        """The parts that ended (or were cancelled past their deadline) since the last call."""
        ready, _ = ray.wait(list(self.parts), num_returns=len(self.parts), timeout=POLL_SECONDS) if self.parts else ([], [])
        ended = []
        for ref in ready:
            part = self.parts.pop(ref)
            try:
                part.result = ray.get(ref)
            except ray.exceptions.RayError as error:
                part.failure = failure_outcome(error, ray, self.retries)
            ended.append(part)
        now = time.monotonic()
        for ref in [ref for ref, part in self.parts.items() if now > part.deadline]:
            part = self.parts.pop(ref)
            ray.cancel(ref, force=True)  # what it returns later is never read: one result per submission
            part.failure = judges.Outcome(Status.TIMEOUT, f"grading did not finish within {self.options.timeout:g} s "
                                          "on the cluster and its task was cancelled")
            ended.append(part)
        return ended
