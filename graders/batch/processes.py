"""Grading processes: started in their own process group, tied to this process, killed whole.

A grading process (the judge) starts a worker in a session of its own, and student code
may start more. Killing only the judge's group would leave those running, so a kill
walks the process tree first. This process becomes a child subreaper, so what a dead
judge leaves behind is re-parented here, found and killed, instead of spinning on.
"""
import ctypes
import gc
import os
import signal
import sys
import traceback

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
# What a judge that cannot start (or a forked judge that raises) exits with.
START_FAILURE_EXIT = 70


def _prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper():
    """Orphans of our children become our children (Linux); False where unsupported."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def available_cores():
    """The cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def stat_fields(pid="self"):
    """The fields of /proc/<pid>/stat after the command name (state first, so field N of proc(5) is index N - 3).

    OSError once the process is gone. The name is cut at the last ")": it may hold spaces and parentheses.
    """
    with open(f"/proc/{pid}/stat", "rb") as stream:
        return stream.read().rsplit(b")", 1)[1].split()


def seconds_since_launch():
    """Seconds since this process was started (its exec'd images included: the host's relaunch keeps the pid); None if unknown."""
    try:
        started = int(stat_fields()[19])  # starttime, clock ticks after boot
        with open("/proc/uptime", "rb") as uptime:
            booted = float(uptime.read().split()[0])
        return max(0.0, booted - started / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def spawn(command_or_callable, log_path, env, cwd):
    """Fork a judge in a new session, output to `log_path`; return its pid.

    `command_or_callable` is an argv to exec, or a function returning an exit code,
    run in the forked copy of this process (which must then be single-threaded).
    """
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = fork_frozen()
    if pid:
        return pid
    code = START_FAILURE_EXIT
    try:
        os.setsid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(code)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask decides
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(cwd)
        if callable(command_or_callable):
            os.environ.clear()
            os.environ.update(env)
            code = int(command_or_callable())
        else:
            os.execve(command_or_callable[0], command_or_callable, env)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def fork_frozen():
    """os.fork() with the parent's objects frozen in the child (gc.freeze): its collector never visits them.

    A collection that walks the libraries' million objects writes to every page they lie on,
    so each child would copy them all (and spend the walk's CPU). The parent keeps collecting.
    """
    gc.freeze()
    try:
        pid = os.fork()
    except BaseException:
        gc.unfreeze()
        raise
    if pid:
        gc.unfreeze()
    return pid


def _parents():
    """pid -> parent pid of every process we can see."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parents[int(entry)] = int(stat_fields(entry)[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def descendants(pid, parents=None):
    """Every process below `pid` (children, their children, ...)."""
    parents = _parents() if parents is None else parents
    children = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, frontier = [], [pid]
    while frontier:
        below = children.get(frontier.pop(), [])
        found.extend(below)
        frontier.extend(below)
    return found


def _exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _signal_all(pids, signum):
    """Signal `pids` and their process groups, except a group whose leader lives outside `pids`.

    Such a group is another process's: an orphan adopted from a running judge's child may
    still be in that judge's group (bubblewrap's monitor exits before its init does).
    """
    own_group, tree = os.getpgrp(), set(pids)
    for pid in pids:
        try:
            group = os.getpgid(pid)
            if group != own_group and (group in tree or not _exists(group)):
                os.killpg(group, signum)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid):
    """SIGKILL `pid`, every process below it and their process groups.

    The tree is stopped first, then listed again, so a process that forks meanwhile
    cannot slip out; `pid` itself stays a zombie for its parent to reap.
    """
    tree = [pid, *descendants(pid)]
    _signal_all(tree, signal.SIGSTOP)
    tree = sorted({*tree, *descendants(pid)})
    _signal_all(tree, signal.SIGKILL)


def kill_strays(known):
    """Kill our children that are not known judges: orphans re-parented to us."""
    parents = _parents()
    me = os.getpid()
    for child, parent in parents.items():
        if parent == me and child not in known:
            try:
                state = stat_fields(child)[0]
            except OSError:
                continue
            if state != b"Z":
                kill_tree(child)
