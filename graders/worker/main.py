"""The worker process: imports a submission and runs requested calls on it.

Started by `graders.judge.harness.Worker` as `python -m graders.worker.main`, or forked by the
fork server (graders/worker/zygote.py) into the same sandbox; it never judges anything. It
confines itself first (before NumPy starts threads), then answers one JSON request per line
on its request pipe with one JSON response on its response pipe.
"""
import os
import sys
import traceback

from graders.worker import sandbox
from graders.worker.messages import CONFIG_VARIABLE, HELLO_ID, MAX_ERROR, MAX_TRACEBACK, Request, Response, WorkerConfig


def _confine_from_environment():
    settings = WorkerConfig.from_text(os.environ.pop(CONFIG_VARIABLE))
    os.chdir(settings.workdir)
    sandbox.die_with_parent(settings.judge_pid)
    sandbox.apply_resource_limits(settings.memory_bytes, settings.max_file_bytes, settings.max_processes)
    worker_dir = os.path.dirname(os.path.abspath(__file__))
    read_paths = sandbox.default_read_paths(
        [*settings.harness_files, settings.submission, settings.inbox, *settings.read_paths],
        own_proc=not settings.own_pid_namespace,
    )
    # Not /dev/shm: every process shares it and a file left there outlives the grading.
    write_paths = [settings.workdir, "/dev/null", *settings.device_paths]
    landlock = sandbox.confine(read_paths, write_paths, list_only=[os.path.dirname(worker_dir), worker_dir])
    seccomp = sandbox.forbid_reaching_others(deny_sockets=not settings.own_pid_namespace)
    return settings, "; ".join(part for part in (landlock, seccomp) if part)


class Session:
    """The submission's modules and the probes run on them."""

    def __init__(self, settings):
        self.settings = settings
        self.modules = {}
        sys.path.insert(0, settings.submission)

    def module(self, name):
        if name not in self.modules:
            import importlib

            self.modules[name] = importlib.import_module(name)
        return self.modules[name]

    def handle(self, request):
        from graders.worker import probes, probes_training, protocol

        name = "probe_" + request.probe
        probe = next(getattr(module, name) for module in (probes, probes_training) if hasattr(module, name))
        return probe(self, **protocol.decode(request.params, protocol.ExchangeFolder(self.settings.inbox)))


def _student_traceback(error):
    """The frames of the traceback that belong to the submission, most recent last."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if "/graders/" not in frame.filename]
    return "".join(traceback.format_list(own[-6:]))[-MAX_TRACEBACK:]


def _error_text(error):
    try:
        return str(error)[:MAX_ERROR]
    except BaseException:  # a hostile __str__
        return "<unprintable>"


def main():
    serve(int(sys.argv[1]), int(sys.argv[2]))


def serve(request_fd, response_fd):
    """Confine this process as its environment's WorkerConfig says, then answer requests until the judge closes them."""
    settings, sandbox_description = _confine_from_environment()
    from graders.worker import protocol  # NumPy and its threads only after confinement

    session = Session(settings)
    responses = os.fdopen(response_fd, "w", buffering=1)
    hello = Response(HELLO_ID, True, value={"sandbox": sandbox_description}, limits=sandbox.current_limits())
    responses.write(hello.line())
    for line in os.fdopen(request_fd, "r"):
        request = Request.from_line(line)
        try:
            value = protocol.encode(session.handle(request), settings.workdir)
            response = Response(request.id, True, value=value, limits=sandbox.current_limits())
        except BaseException as error:  # SystemExit and KeyboardInterrupt from student code too
            response = Response(
                request.id, False, error_type=type(error).__name__, error=_error_text(error),
                traceback=_student_traceback(error), limits=sandbox.current_limits(),
            )
        responses.write(response.line())
        responses.flush()
    os._exit(0)  # the judge closed its requests: no interpreter teardown (TensorFlow's takes seconds)


if __name__ == "__main__":
    main()
