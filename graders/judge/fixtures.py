"""The fixtures checks use: the submission under grading, as a whole and as one check sees it."""
import zlib

import numpy as np
import pytest

from graders import questions
from graders.judge.naming import check_name, seed_key
from graders.judge.state import state_of
from graders.judge.submission import Submission


def _new_submission(config, memory_gb=None, **worker):
    """memory_gb=None: the run's worker memory; 0: no address-space limit (CUDA reserves far more than it uses)."""
    state = state_of(config)
    return Submission(
        state.source.folder,
        memory_gb=state.settings.worker_memory_gb if memory_gb is None else memory_gb,
        import_timeout=state.rubric.import_timeout,
        level=state.level,
        missing_names=state.source.notebook.missing if state.source.notebook is not None else None,
        warm=state.settings.warm_workers and any(
            question.keras_in_worker for question in questions.all_questions() if question.name in (state.settings.questions or questions.names())
        ),
        **worker,
    )


@pytest.fixture(scope="session")
def settings(request):
    """The run's GradingSettings."""
    return state_of(request.config).settings


@pytest.fixture(scope="session")
def submission(request):
    """The submission under grading, run in a confined worker."""
    graded = state_of(request.config).submission = _new_submission(request.config)
    # The worker imports the submission's libraries while the judge imports its oracles.
    graded.start()
    yield graded
    graded.close()


@pytest.fixture(scope="session")
def worker_pool(request):
    """Workers on the submission with settings of their own (a data folder to read, a GPU), one per settings."""
    workers = state_of(request.config).extra_workers

    def worker(read_paths=(), memory_gb=None, allow_gpu=False):
        key = (tuple(str(path) for path in read_paths), memory_gb, allow_gpu)
        if key not in workers:
            workers[key] = _new_submission(request.config, memory_gb, read_paths=read_paths, allow_gpu=allow_gpu)
        return workers[key]

    yield worker
    for graded in workers.values():
        graded.close()


class Student:
    """The submission as one check sees it: calls carry the check's time limit."""

    def __init__(self, submission, timeout):
        self._submission, self.timeout = submission, timeout

    def call(self, module, function, *args, **kwargs):
        return self._submission.call(module, function, *args, timeout=self.timeout, **kwargs)

    def attribute(self, module, name):
        return self._submission.attribute(module, name, timeout=self.timeout)

    def probe(self, probe, module, **params):
        return self._submission.probe(probe, module, timeout=self.timeout, **params)

    def probe_once(self, probe, module, **params):
        """A probe whose result several checks share (e.g. one model description)."""
        key = (probe, module, repr(sorted(params.items())))
        if key not in self._submission.shared_results:
            self._submission.shared_results[key] = self.probe(probe, module, **params)
        return self._submission.shared_results[key]


def _timeout(request):
    return state_of(request.config).rubric[check_name(request.node)].timeout


@pytest.fixture
def student(request, submission):
    return Student(submission, _timeout(request))


@pytest.fixture
def student_for(request, worker_pool):
    """`student_for(read_paths=[folder])`: the `student` of a worker with those settings."""
    timeout = _timeout(request)
    return lambda **settings: Student(worker_pool(**settings), timeout)


@pytest.fixture
def rng(request):
    """A generator seeded by the grading seed and the case: the same cases every run, wherever run from."""
    seed = state_of(request.config).settings.grading_seed
    return np.random.default_rng([seed, zlib.crc32(seed_key(request.node).encode())])
