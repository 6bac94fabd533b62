"""hw9-grade's one import per class (graders/batch/host.py): its fork server holds nothing of the grading."""
import os
import re
import secrets
import signal
import socket
import time
from pathlib import Path

import pytest

from graders import layout
from graders.batch import host
from tests.batch_helpers import start_grade

SLEEPING_Q2 = "import time\ntime.sleep(60)\n"  # holds the class at its first import while the test looks


def _children(pid):
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _fork_server_of(pid, deadline):
    """The child of `pid` that runs in a fork server's home (its cwd), once there is one."""
    while time.monotonic() < deadline:
        for child in _children(pid):
            try:
                if Path(os.readlink(f"/proc/{child}/cwd")).name.startswith("hw9-zygote-"):
                    return child
            except OSError:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no fork server appeared under hw9-grade (pid {pid})")


def _open_files(pid):
    files = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            files.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    return files


def _memory_holds(pid, needles):
    """Which of `needles` (bytes) occur anywhere in the readable memory of process `pid`."""
    found, overlap = set(), max(map(len, needles))
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for line in maps:
            fields = line.split()
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]", "[vvar_vclock]")):
                continue
            tail = b""
            for offset in range(start, end, 1 << 24):
                try:
                    memory.seek(offset)
                    chunk = tail + memory.read(min(1 << 24, end - offset))
                except OSError:
                    break
                found.update(needle for needle in needles if needle in chunk)
                tail = chunk[-overlap:]
    return found


@pytest.mark.skipif(not os.access("/proc/self/mem", os.R_OK), reason="this system does not let a process read process memory")
def test_the_fork_server_is_forked_before_hw9_grade_reads_its_seed_environment_or_rubric(tmp_path):
    for name in ("ann", "ben"):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / "q2.py").write_text(SLEEPING_Q2)
    rubric = tmp_path / f"rubric-{secrets.token_hex(8)}.yaml"
    rubric.write_bytes(layout.DEFAULT_RUBRIC.read_bytes())
    token, seed = f"hw9-host-secret-{secrets.token_hex(12)}", str(10**11 + secrets.randbelow(10**11))
    handed_read, handed = os.pipe()  # an fd hw9-grade's own parent lets it inherit
    os.environ["HW9_TEST_SECRET"] = token
    try:
        grading = start_grade(tmp_path / "class", "--out", tmp_path / "out", "--only", "q2", "--jobs", "2",
                              "--grading-seed", seed, "--rubric", rubric, pass_fds=(handed,))
    finally:
        del os.environ["HW9_TEST_SECRET"]
        os.close(handed)
    try:
        deadline = time.monotonic() + 120
        server = _fork_server_of(grading.pid, deadline)
        while not set(_children(grading.pid)) - {server}:  # until a judge runs: hw9-grade has read everything
            assert time.monotonic() < deadline, "no judge started"
            time.sleep(0.2)
        needles = {token.encode(), seed.encode(), rubric.name.encode()}
        assert _memory_holds(grading.pid, needles) == needles  # hw9-grade (same pid, now the host) holds them all
        assert _memory_holds(server, needles) == set()
        environment = Path(f"/proc/{server}/environ").read_bytes()
        assert token.encode() not in environment and b"HW9_TEST_SECRET" not in environment
        pipe = f"pipe:[{os.fstat(handed_read).st_ino}]"
        assert pipe not in _open_files(server), "the fork server inherited an fd hw9-grade was handed"
        assert re.search(rb"graders\.batch\.host", Path(f"/proc/{grading.pid}/cmdline").read_bytes())
    finally:
        os.killpg(grading.pid, signal.SIGKILL)
        grading.wait()
        os.close(handed_read)


def test_the_forked_fork_server_is_waited_for_and_its_log_kept(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / host.LOG_NAME).write_text("fork server: bye\n")
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.close()
    server = host.HostedForkServer(ours, host.ForkedChild(pid), str(tmp_path / "home"))
    server.log_path = tmp_path / "out.log"
    server.close()
    server.close()  # the batch and run() both close it: once is done
    assert server.process.returncode == 7 and server.process.poll() == 7
    assert (tmp_path / "out.log").read_text() == "fork server: bye\n"
    assert not (tmp_path / "home").exists()
