"""The worker's outer sandbox: namespaces by bubblewrap, and a uid of its own.

Judge side only. A worker runs as `bwrap <binds and unshares> [setpriv] python -m
graders.worker.main` where the platform lets us create namespaces; Landlock and rlimits are
applied inside it by the worker itself (graders.worker.sandbox), and are the whole sandbox where
no namespace can be made (an unprivileged container). The binds are a short explicit list:
read-only Python and harness, the submission copy and the judge's argument folder, one
writable work folder, a private /tmp, /proc, /dev and nothing else of the host.
"""
import enum
import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from graders import layout
from graders.threads import THREAD_VARIABLES
from graders.worker import sandbox

UID_BASE = 1_500_000_000  # far above login, system and subordinate uid ranges
UID_SLOTS = 64  # workers alive at once in one judge
ENVIRONMENT_ALLOWED = (
    "LANG", "LC_ALL", *THREAD_VARIABLES,
    # Older OpenBLAS builds compute wrong results on some processors without these.
    "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
)
_HOST_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")
_SYS_READ = ("/sys/devices/system/cpu", "/sys/fs/cgroup")


class Level(enum.IntEnum):
    """How strongly a worker is confined; higher includes what lower gives."""

    NONE = 0
    LANDLOCK = 1
    NAMESPACES = 2

    @property
    def label(self):
        return self.name.lower()

    @classmethod
    def parse(cls, text):
        try:
            return cls[str(text).upper()]
        except KeyError:
            raise ValueError(f"sandbox level must be one of namespaces, landlock, none; got {text!r}") from None


@dataclass(frozen=True)
class SandboxInfo:
    """The sandbox in force for a worker: its level and one line saying what it means."""

    level: Level
    description: str

    def as_data(self):
        return {"level": self.level.label, "description": self.description}


def is_root():
    return os.geteuid() == 0


def worker_uid(sequence):
    """A uid no other process uses: one per live worker of this judge (pids are unique)."""
    return UID_BASE + os.getpid() * UID_SLOTS + sequence % UID_SLOTS


@functools.lru_cache(maxsize=1)
def bwrap_path():
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def namespaces_unavailable():
    """None when bubblewrap can make the worker's namespaces here, else why not."""
    if os.environ.get("HW9_NO_NAMESPACES"):
        return "disabled by HW9_NO_NAMESPACES"
    if not bwrap_path():
        return "bubblewrap (bwrap) is not installed"
    probe = [bwrap_path(), *_unshares(), "--ro-bind", "/", "/", "--proc", "/proc", "--", sys.executable, "-c", "pass"]
    try:
        completed = subprocess.run(probe, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run ({error})"
    if completed.returncode != 0:
        return f"bwrap cannot create namespaces here: {completed.stderr.decode(errors='replace').strip()[:200]}"
    return None


def _unshares():
    user = [] if is_root() else ["--unshare-user", "--disable-userns"]
    return [*user, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]


def _ancestors(paths):
    """Every folder above the bind targets, outermost first, so each can be made 0755."""
    folders = set()
    for path in paths:
        parent = Path(path).parent
        while parent != parent.parent:
            folders.add(parent)
            parent = parent.parent
    return sorted(folders, key=lambda folder: (len(folder.parts), str(folder)))


def _host_link_arguments():
    arguments = []
    for link in _HOST_LINKS:
        if os.path.islink(link):
            arguments += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            arguments += ["--ro-bind", link, link]
    return arguments


@dataclass(frozen=True)
class Binds:
    """What a worker sees of the host, besides /usr."""

    read_only: tuple  # Python, the harness package, the submission copy, the argument folder, data
    writable: str  # the work folder
    devices: tuple = ()  # GPU device nodes, when a GPU is allowed
    files: tuple = ()  # (source, target): files the judge made for it, e.g. its /etc/passwd


def _outermost(paths):
    """Existing paths, without those inside another one (its bind already shows them)."""
    paths = sorted({os.path.normpath(path) for path in paths if os.path.exists(path)}, key=len)
    kept = []
    for path in paths:
        if not any(path == outer or path.startswith(outer.rstrip("/") + "/") for outer in kept):
            kept.append(path)
    return kept


def bwrap_command(argv, binds, environment, uid=None):
    """The bwrap command line that runs `argv` confined; `uid` switches user (root judges only)."""
    read_only = [path for path in _outermost(binds.read_only) if path != "/usr" and not path.startswith("/usr/")]
    targets = [*read_only, binds.writable, *_ETC_FILES, *_SYS_READ, *(target for _, target in binds.files)]
    command = [bwrap_path(), *_unshares(), "--die-with-parent", "--new-session", "--hostname", "worker"]
    command += ["--ro-bind", "/usr", "/usr", *_host_link_arguments()]
    # Mounts first, binds after: a work folder under /tmp must not be hidden by the private /tmp.
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm"]
    for folder in _ancestors(targets):
        if str(folder) not in ("/usr", "/tmp", "/proc", "/dev") and not str(folder).startswith(("/usr/", "/proc/", "/dev/")):
            command += ["--perms", "0755", "--dir", str(folder)]
    for path in (*_ETC_FILES, *_SYS_READ):
        command += ["--ro-bind-try", path, path]
    for source, target in binds.files:
        command += ["--ro-bind", source, target]
    for path in read_only:
        command += ["--ro-bind", path, path]
    command += ["--bind", binds.writable, binds.writable]
    for device in binds.devices:
        command += ["--dev-bind", device, device]
    if binds.devices:  # the CUDA driver finds its GPUs through sysfs
        command += ["--ro-bind", "/sys", "/sys"]
    command += ["--clearenv"]
    for key, value in environment.items():
        command += ["--setenv", key, value]
    # No --chdir: bwrap would enter the work folder before setpriv makes it the owner.
    command += ["--chdir", "/", "--cap-drop", "ALL"]
    if uid is not None:
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--", shutil.which("setpriv") or "/usr/bin/setpriv"]
        command += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--"]
    else:
        command += ["--"]
    return command + list(argv)


def account_files(folder, uid, home):
    """An /etc/passwd and /etc/group naming only root and the worker: pwd.getpwuid() works, nothing of the host shows."""
    folder = Path(folder)
    (folder / "passwd").write_text(f"root:x:0:0:root:/root:/usr/sbin/nologin\nworker:x:{uid}:{uid}:hw9 worker:{home}:/usr/sbin/nologin\n")
    (folder / "group").write_text(f"root:x:0:\nworker:x:{uid}:\n")
    for name in ("passwd", "group"):
        (folder / name).chmod(0o644)
    return ((str(folder / "passwd"), "/etc/passwd"), (str(folder / "group"), "/etc/group"))


def kill_uid(uid):
    """Kill every process running as `uid` (the worker's, daemonised children included)."""
    kill = shutil.which("kill") or "/bin/kill"
    subprocess.run([kill, "-KILL", "-1"], user=uid, group=uid, extra_groups=[], stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False)


def allowed_environment(extra):
    """The judge's allowlisted variables plus the worker's own settings; nothing else crosses."""
    environment = {key: os.environ[key] for key in ENVIRONMENT_ALLOWED if key in os.environ}
    environment.setdefault("LANG", "C.UTF-8")
    environment.update(USER="worker", LOGNAME="worker")
    environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    environment.update(extra)
    return environment


def planned_level():
    """The strongest sandbox this platform allows a worker."""
    if namespaces_unavailable() is None:
        return Level.NAMESPACES
    return Level.LANDLOCK if sandbox.landlock_abi() >= 1 else Level.NONE


def own_uid(sequence, level, folder):
    """A uid for the worker alone where the judge may switch users (root), else None.

    `folder` holds the worker's files; outside namespaces the worker reaches it in place.
    """
    if not is_root():
        return None
    if level is not Level.NAMESPACES and not (_python_usable_by_others() and _reachable_by_others([Path(folder)])):
        return None
    uid = worker_uid(sequence)
    if level is not Level.NAMESPACES:
        kill_uid(uid)  # nothing left over from an earlier judge with this pid
    return uid


def _python_usable_by_others():
    """Outside namespaces another uid runs the host's Python in place: it must reach the interpreter, its packages and the harness."""
    needed = [Path(os.path.realpath(sys.executable)), Path(sys.prefix), *layout.worker_files()]
    try:
        return _reachable_by_others(needed) and all(os.stat(path).st_mode & 0o004 for path in needed)
    except OSError:
        return False


def _reachable_by_others(paths):
    """Whether every folder above each of `paths` lets any user through."""
    try:
        return all(os.stat(folder).st_mode & 0o001 for folder in {folder for path in paths for folder in path.parents})
    except OSError:
        return False


def sandbox_info(worker):
    """What confined `worker`: the judge's choice of level, and the worker's own account of Landlock."""
    level = worker.level
    parts = {
        Level.NAMESPACES: "own user, PID, network, IPC and mount namespaces (bubblewrap)",
        Level.LANDLOCK: f"no namespaces ({namespaces_unavailable() or 'not asked for'})",
        Level.NONE: f"no namespaces ({namespaces_unavailable() or 'not asked for'}) and no Landlock",
    }[level]
    if worker.uid is not None:
        who = f"uid {worker.uid} of its own"
    elif is_root() and level is not Level.NAMESPACES:
        why = "Python is not readable by other users here" if not _python_usable_by_others() else f"other users cannot reach its folder {worker.base.parent}"
        who = f"root's uid without capabilities ({why})"
    else:
        who = "the grader's uid"
    started = f"; {worker.start_mode}" if worker.start_mode else ""
    return SandboxInfo(level, f"{level.label}: {parts}, {who}; {worker.sandbox}{started}")


def describe_platform():
    """One line: the sandbox workers get here, and why not more."""
    level = planned_level()
    why = "" if level is Level.NAMESPACES else f" ({namespaces_unavailable()})"
    return f"hw9 sandbox here: {level.label}{why}"


if __name__ == "__main__":
    from graders.judge import jail  # this file runs as __main__: use the module the harness imports

    print(jail.describe_platform())


def children(pid):
    """Child pids of every thread of `pid` (a child belongs to the thread that forked it)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(child) for child in listing.read().split()]
        except OSError:
            continue
    return found


def _start_time(pid):
    """When `pid` started (clock ticks since boot), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _oldest(pids):
    """The earliest started of `pids` still there, or None.

    A child listed a moment ago may have been reaped since (a stray killed after the last
    call, its parent the sandbox's init): it must never pass for the oldest, or the
    process it displaced would be taken for a stray.
    """
    started = [(time, pid) for pid in pids for time in [_start_time(pid)] if time is not None]
    return min(started)[1] if started else None


def _uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def descendants(pid):
    """Every process below `pid`."""
    found, pending = set(), [pid]
    while pending:
        for child in children(pending.pop()):
            found.add(child)
            pending.append(child)
    return found


_PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans():
    """Make this judge the subreaper of its workers' descendants (no namespaces to hold them).

    A double-forked daemon is then re-parented here, not to init, and killed as a stray.
    """
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def stray_processes(root_pid, level, uid=None):
    """Processes a worker started that are not the worker itself, to kill when a call ends.

    In namespaces the tree is bwrap, its init, the worker (init's oldest child) and
    whatever else: orphans and setsid() daemons are re-parented to the init, so they stay
    in the tree. Without namespaces they escape it; a uid of its own finds them.
    """
    keep = {root_pid}
    worker = root_pid
    if level is Level.NAMESPACES:
        init = _oldest(children(root_pid))
        worker = _oldest(children(init)) if init else None
        keep |= {init, worker}
    strays, pending = set(), [root_pid]
    while pending:
        pid = pending.pop()
        for child in children(pid):
            if child not in keep:
                strays.add(child)
            pending.append(child)
    if uid is not None and level is not Level.NAMESPACES:
        strays |= {int(pid) for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != worker and _uid_of(int(pid)) == uid}
    return strays - keep
