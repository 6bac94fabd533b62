"""Warm workers: forked from a fork server that imported TensorFlow once, instead of started afresh.

hw9-grade starts one fork server (graders/worker/zygote.py) per class and hands its control
socket to every judge as the inherited fd named by HW9_ZYGOTE_FD; a single pytest grading
starts its own. A judge asks for a worker by sending a reply socket; on it go the
worker's request (its folder, environment, uid, the sandbox to join) and its three fds, and
back come the worker's pid, then its exit status and CPU time. A fork server that finds
forking unsafe here answers every request with why, and the judge starts a fresh
interpreter instead, saying so.
"""
import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from graders import layout
from graders.judge import jail
from graders.threads import SINGLE_THREAD
from graders.worker.zygote import ForkRequest

FD_VARIABLE = "HW9_ZYGOTE_FD"  # the inherited control socket of hw9-grade's fork server
START_SECONDS = 180.0  # the fork server imports TensorFlow before it answers its first request
FORKED = "forked from the fork server"
# A warm worker's sandbox is held by this script, run by bubblewrap, until its stdin closes;
# the worker forked into its namespaces does the work.
HOLDER = "import os, sys; os.write(1, b'.'); sys.stdin.buffer.read()"

_local = None  # this process's own fork server, when no hw9-grade gave one
forked_cpu_seconds = 0.0  # CPU time of the forked workers that ended, accounted to this grading


class Unavailable(Exception):
    """No warm worker: the reason the worker is started as a fresh interpreter instead."""


@dataclass
class ForkServer:
    """A running fork server: its process (None when inherited) and the control socket to it."""

    control: socket.socket
    process: subprocess.Popen | None = None
    home: str = ""

    def close(self):
        self.control.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.keep_log()
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)

    def keep_log(self):
        """Save what the fork server wrote before its home goes (a started one writes where it was told)."""


def fork_server_environment(home):
    """The fork server's environment: the worker's allowlist, its own empty home, one thread per library."""
    return jail.allowed_environment({
        "HOME": home, "KERAS_HOME": os.path.join(home, ".keras"), "TMPDIR": home, "MPLCONFIGDIR": home,
        "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": str(layout.PACKAGE_DIR.parent), "CUDA_VISIBLE_DEVICES": "-1", **SINGLE_THREAD,
    })


def start_fork_server(log_path=os.devnull):
    """Start a fork server (a fresh interpreter: nothing of this process's state) and return it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    home = tempfile.mkdtemp(prefix="hw9-zygote-")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "graders.worker.zygote", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=fork_server_environment(home), cwd=home, start_new_session=True,
        )
    theirs.close()
    return ForkServer(ours, process, home)


def inherited_fork_server():
    """hw9-grade's fork server, when this judge was given one; else None."""
    text = os.environ.get(FD_VARIABLE, "")
    if not text.isdigit():
        return None
    try:
        control = socket.socket(fileno=int(text))
    except OSError:
        return None
    return ForkServer(control) if control.type == socket.SOCK_SEQPACKET else None


def fork_server():
    """The fork server this grading uses: hw9-grade's, else one of its own started now."""
    global _local
    if _local is not None and _local.process is not None and _local.process.poll() is not None:
        _local.close()  # ours died (killed from outside, say): start another
        _local = None
    if _local is None:
        _local = inherited_fork_server() or start_fork_server()
        atexit.register(_local.close)
    return _local


def own_server_pids():
    """The pid of this process's own fork server, a child of it that is no stray; empty if none."""
    return {_local.process.pid} if _local is not None and _local.process is not None else set()


def _answer(reply, timeout):
    ready, _, _ = select.select([reply], [], [], timeout)
    try:
        data = reply.recv(1 << 16) if ready else b""
    except ConnectionResetError:  # its end closed with the request unread: the fork server died
        raise Unavailable("the fork server ended before it read the request") from None
    if not data:
        raise Unavailable("the fork server did not answer" if not ready else "the fork server closed the request")
    return json.loads(data)


@dataclass
class Forked:
    """A worker the fork server forked: its pid (outside its sandbox) and the socket its end is told on."""

    pid: int
    reply: socket.socket
    done: bool = False
    exit_code: int | None = None  # negative: killed by that signal; None: not told

    def ended(self, timeout=0.0):
        """Whether the worker has ended, reading its exit code and CPU time if they come within `timeout`."""
        global forked_cpu_seconds
        if self.done or self.reply.fileno() < 0:
            return self.done
        ready, _, _ = select.select([self.reply], [], [], timeout)
        if not ready:
            return False
        try:
            answer = json.loads(self.reply.recv(1 << 16) or b"{}")
        except (OSError, ValueError):
            answer = {}
        self.done = True  # told, or the keeper is gone: either way this worker is over
        if "status" in answer:
            self.exit_code = os.waitstatus_to_exitcode(int(answer["status"]))
            forked_cpu_seconds += float(answer.get("cpu", 0.0))
        return True

    def close(self, timeout=5.0):
        self.ended(timeout)  # its CPU time, when it comes
        self.reply.close()


def fork_worker(server, request, fds):
    """Have `server` fork a worker for `request` with `fds` (request read end, response write end, log)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        socket.send_fds(server.control, [b"fork"], [theirs.fileno()])
        socket.send_fds(ours, [request.to_bytes()], list(fds))
    except OSError as error:
        ours.close()
        raise Unavailable(f"the fork server cannot be reached ({error})") from None
    finally:
        theirs.close()
    try:
        answer = _answer(ours, START_SECONDS)
    except (Unavailable, ValueError) as error:
        ours.close()
        raise Unavailable(str(error)) from None
    if "pid" not in answer:
        ours.close()
        raise Unavailable(answer.get("refused") or answer.get("error") or "the fork server refused")
    return Forked(int(answer["pid"]), ours)


def _deepest_descendant(pid):
    """The last process of a chain of only children (bubblewrap, its init, the command it runs)."""
    while True:
        children = jail.children(pid)
        if not children:
            return pid
        pid = min(children)


def start_in_sandbox(worker, pipes):
    """Start bubblewrap holding `worker`'s sandbox and fork the worker into it: (the holder's Popen, Forked).

    `pipes`: the worker's request read end and response write end. Unavailable says why not.
    """
    if worker.level is not jail.Level.NAMESPACES:
        raise Unavailable(f"warm workers need the namespaces sandbox, this one is {worker.level.label}")
    if worker.settings.allow_gpu:
        raise Unavailable("a GPU worker starts afresh (the fork server hides the GPU)")
    try:
        server = fork_server()
    except OSError as error:
        raise Unavailable(f"the fork server could not start ({error})") from None
    with open(worker.log_path, "ab") as log:
        holder = subprocess.Popen(worker._in_bubblewrap([sys.executable, "-S", "-c", HOLDER]), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=log, env=worker._environment(), start_new_session=True)
    ready, _, _ = select.select([holder.stdout], [], [], worker.settings.start_timeout)
    inside = _deepest_descendant(holder.pid) if ready and holder.stdout.read(1) == b"." else None
    holder.stdout.close()
    try:
        if inside is None:
            raise Unavailable("the sandbox for the worker did not start")
        request = ForkRequest(cwd=str(worker.workdir), environment=worker._environment(), uid=worker.uid, namespaces_of=inside)
        with open(worker.log_path, "ab") as log:
            return holder, fork_worker(server, request, (*pipes, log.fileno()))
    except Unavailable:
        holder.kill()
        holder.wait()
        raise
