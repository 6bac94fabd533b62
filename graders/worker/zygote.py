"""The fork server: a process that has imported a worker's libraries, and nothing of the grading.

Started as a fresh interpreter (`python -m graders.worker.zygote FD`) with the worker's
allowlisted environment by a single pytest grading (or hw9-grade --no-preload), or forked,
once per class, from hw9-grade re-executed with that environment before it reads anything
(graders/batch/host.py), it imports NumPy, OpenCV, SciPy, TensorFlow, Keras and
keras-tuner, tries one fork to see that they still work in a child, and then only forks. It never reads a grading seed, a rubric,
an expected value or a submission: a judge sends it a reply socket over the control
socket FD, and what the worker needs travels on that private socket to the forked child
only.

The child (the "keeper") joins the sandbox the judge prepared (the namespaces of a
bubblewrap process, by setns), forks the worker into it and waits for it, to tell the
judge its exit status and CPU time. The worker drops every capability and switches to its
uid, takes its environment, then confines itself (Landlock, rlimits, seccomp) and serves
requests exactly as a worker started by `graders.worker.main`.
"""
import contextlib
import ctypes
import gc
import json
import os
import signal
import socket
import sys
import tempfile
from dataclasses import asdict, dataclass, field

from graders.worker import deferred_imports

LIBRARIES = ("numpy", "cv2", "scipy", "tensorflow", "keras", "keras_tuner")
# Joined in this order: the user namespace first (it grants the rights to join the others),
# the mount namespace last (it changes the root, and /proc with it).
NAMESPACES = {"user": 0x10000000, "ipc": 0x08000000, "uts": 0x04000000, "net": 0x40000000,
              "cgroup": 0x02000000, "pid": 0x20000000, "mnt": 0x00020000}
MAX_MESSAGE = 1 << 20
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_LAST_CAPABILITY = 63


@dataclass
class ForkRequest:
    """What a judge asks of the fork server for one worker (sent with its three fds)."""

    cwd: str
    environment: dict = field(default_factory=dict)
    uid: int | None = None  # switch to it (the judge is root); None: keep this uid
    namespaces_of: int | None = None  # join the namespaces of this pid (bubblewrap's); None: none

    def to_bytes(self):
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, data):
        return cls(**json.loads(data))


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def quietly_import(names):
    """Import `names` with fd 2 silenced (TensorFlow's C++ start-up lines); "" or why one failed."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            for name in names:
                deferred_imports.import_module(name)
        except Exception as error:
            return f"importing {name} failed ({type(error).__name__}: {error})"
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return ""


def _try_a_fork(seconds=120):
    """Whether a child forked now can still compute with the libraries: "" if so, else why not."""
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        return f"importing the libraries started {threads - 1} threads"
    pid = os.fork()
    if pid == 0:
        status = 1
        with contextlib.suppress(BaseException):
            signal.alarm(seconds)
            import cv2
            import numpy as np
            import tensorflow as tf

            image = np.arange(64, dtype=np.float32).reshape(8, 8)
            cv2.filter2D(image, -1, np.ones((3, 3), np.float32))
            status = 0 if float(tf.reduce_sum(tf.constant(image @ image))) > 0 else 1
        os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    return "" if os.waitstatus_to_exitcode(wait_status) == 0 else "a forked child could not use TensorFlow, NumPy and OpenCV"


def _join_namespaces(pid):
    """setns into every namespace of `pid` that differs from ours; OSError naming the one that failed."""
    libc, opened = _libc(), []
    try:
        for name, flag in NAMESPACES.items():
            path = f"/proc/{pid}/ns/{name}"
            if not os.path.exists(path) or os.stat(path).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            opened.append((name, flag, os.open(path, os.O_RDONLY)))
        for name, flag, fd in opened:
            if libc.setns(fd, flag) != 0:
                number = ctypes.get_errno()
                raise OSError(number, f"joining the {name} namespace of pid {pid}: {os.strerror(number)}")
    finally:
        for _, _, fd in opened:
            os.close(fd)


def _drop_privileges(uid):
    libc = _libc()
    if os.geteuid() == 0:
        for capability in range(_LAST_CAPABILITY + 1):
            libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # EINVAL past the last one the kernel knows
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root: the permitted and effective capabilities are cleared


def _become_worker(request, request_fd, response_fd, log_fd):
    """In the sandbox: fds, privileges, environment; then serve as graders.worker.main does."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    keep = {0, 1, 2, request_fd, response_fd}
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
    _drop_privileges(request.uid)
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.environment)
    from graders.worker import main

    main.serve(request_fd, response_fd)


def _keep(control, reply):
    """The forked child: receive the request, join the sandbox, fork the worker, report its end."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the fork server's reaper would take the worker's status
    control.close()
    data, fds, _, _ = socket.recv_fds(reply, MAX_MESSAGE, 3)
    if len(fds) != 3:
        os._exit(1)
    request, (request_fd, response_fd, log_fd) = ForkRequest.from_bytes(data), fds
    try:
        if request.namespaces_of is not None:
            _join_namespaces(request.namespaces_of)
    except OSError as error:
        reply.sendall(json.dumps({"error": str(error)}).encode())
        os._exit(0)
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            reply.close()
            _become_worker(request, request_fd, response_fd, log_fd)
        except BaseException as error:
            with contextlib.suppress(BaseException):
                os.write(log_fd, f"the forked worker could not start: {type(error).__name__}: {error}\n".encode())
        os._exit(status)
    for fd in fds:
        os.close(fd)
    reply.sendall(json.dumps({"pid": pid}).encode())
    _, wait_status, usage = os.wait4(pid, 0)
    with contextlib.suppress(OSError):
        reply.sendall(json.dumps({"status": wait_status, "cpu": usage.ru_utime + usage.ru_stime}).encode())
    os._exit(0)


def _reap(signum, frame):
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(control):
    """Fork a keeper for every reply socket received, until every judge has closed the control socket."""
    refused = quietly_import(LIBRARIES) or _try_a_fork()
    # Every worker inherits the libraries' objects frozen: its collector never walks them,
    # so it neither spends that CPU nor copies the pages they lie on.
    gc.freeze()
    signal.signal(signal.SIGCHLD, _reap)
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(control, 16, 1)
        except ConnectionError as error:
            print(f"fork server: the control socket failed ({error}); stopping", file=sys.stderr, flush=True)
            return
        if not fds:
            return  # end of file: no judge holds the control socket any more
        reply = socket.socket(fileno=fds[0])
        if refused:
            with contextlib.suppress(OSError):
                reply.settimeout(10)
                for fd in socket.recv_fds(reply, MAX_MESSAGE, 3)[1]:  # read, so that closing resets nothing
                    os.close(fd)
                reply.sendall(json.dumps({"refused": refused}).encode())
            reply.close()
            continue
        if os.fork() == 0:
            try:
                _keep(control, reply)
            finally:
                os._exit(1)
        reply.close()


def main():
    _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
