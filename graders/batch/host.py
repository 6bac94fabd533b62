"""One import of the libraries per class, shared by the fork server and the judges' parent.

Grading a class, hw9-grade would import TensorFlow twice (about 6 s of CPU each here): to
fork its judges from (graders/batch/judges.py) and in the fork server its workers fork
from (graders/worker/zygote.py), which must hold nothing of the grading. The host does
both with one import. hw9-grade re-executes itself (same pid, terminal, parent and exit
status) as `python -m graders.batch.host FD HOME`, with the fork server's allowlisted
environment and nothing of the grading on its command line; the host imports the
libraries, forks the fork server, and only then reads hw9-grade's command line,
environment and folder from the unlinked file FD (closed in the fork server first thing),
restores them and runs hw9-grade with that fork server.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from graders.batch import processes
from graders.judge import warm
from graders.worker import zygote

# Imported before the fork: the fork server's libraries, and of the project only the modules
# that start it. The judges' own (pytest, PyYAML) are imported after, by judges.preload_libraries.
LIBRARIES = zygote.LIBRARIES
LOG_NAME = "fork-server.log"  # in the fork server's home; hw9-grade copies it into --out


class ForkedChild:
    """The fork server as the host's child: what ForkServer needs of a subprocess.Popen."""

    def __init__(self, pid):
        self.pid, self.returncode = pid, None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by hw9-grade's wait for any judge
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"fork server (pid {self.pid})", timeout)
            time.sleep(0.02)
        return self.returncode

    def kill(self):
        if self.returncode is None:
            processes.kill_tree(self.pid)


class HostedForkServer(warm.ForkServer):
    """The host's fork server, logging in its home: the log is copied to `log_path` when it closes."""

    log_path = None

    def keep_log(self):
        log_path, self.log_path = self.log_path, None  # closed twice (the batch, then run()): copied once
        if log_path is None:
            return
        try:
            with open(os.path.join(self.home, LOG_NAME), "rb") as log, open(log_path, "ab") as out:
                shutil.copyfileobj(log, out)
        except OSError as error:  # --out removed under a running hw9-grade: the log is all that is lost
            print(f"hw9-grade: the fork server's log could not be kept ({error})", file=sys.stderr)


def relaunch(argv):
    """Re-execute this process as the host running hw9-grade `argv`; returns only if it cannot."""
    if not sys.executable:
        return
    try:
        home = tempfile.mkdtemp(prefix="hw9-zygote-")
    except OSError:
        return
    try:
        with tempfile.TemporaryFile(dir=home) as saved:
            # ensure_ascii keeps names that are not UTF-8 (surrogate escapes) as they were
            saved.write(json.dumps({"argv": list(argv), "environ": dict(os.environ), "cwd": os.getcwd()}).encode())
            saved.flush()
            fd = os.dup(saved.fileno())
        os.lseek(fd, 0, os.SEEK_SET)
        _inherit_only(fd)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", __name__, str(fd), home], warm.fork_server_environment(home))
    except OSError:
        shutil.rmtree(home, ignore_errors=True)


def _inherit_only(kept):
    """Make `kept` and the standard streams the only fds the host (and so its fork server) inherits."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != kept:
            try:
                os.set_inheritable(fd, False)
            except OSError:  # the listing's own fd, closed by now
                pass
    os.set_inheritable(kept, True)


def _serve(saved_fd, theirs, ours):
    """The fork server's life, in the host's forked child."""
    os.close(saved_fd)
    ours.close()
    zygote.serve(theirs)
    return 0


def start(saved_fd, home):
    """Import, fork the fork server, then take hw9-grade's state back: (argv, fork server)."""
    why_not = zygote.quietly_import(LIBRARIES)
    server = None
    if not why_not:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = processes.spawn(lambda: _serve(saved_fd, theirs, ours), os.path.join(home, LOG_NAME), dict(os.environ), home)
        theirs.close()
        server = HostedForkServer(ours, ForkedChild(pid), home)
    with os.fdopen(saved_fd, "rb") as stream:
        saved = json.loads(stream.read())
    os.chdir(saved["cwd"])
    os.environ.clear()
    os.environ.update(saved["environ"])
    tempfile.tempdir = None  # the host started with the fork server's home as TMPDIR
    if server is None:
        shutil.rmtree(home, ignore_errors=True)
    return saved["argv"], server


def main():
    argv, server = start(int(sys.argv[1]), sys.argv[2])
    from graders.batch import cli

    sys.argv = ["hw9-grade", *argv]
    return cli.main(hosted=server)


if __name__ == "__main__":
    sys.exit(main())
