"""Confinement of a worker process: resource limits and a Landlock filesystem/signal sandbox.

Imports only the standard library: it runs in the worker before NumPy starts any thread,
because Landlock restricts the calling thread and the threads it creates afterwards.
"""
import ctypes
import os
import platform
import resource
import struct
import sys

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_RULE_PATH_BENEATH = 1
_CREATE_RULESET_VERSION = 1

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_MAKE_ALL = sum(1 << bit for bit in range(4, 13))  # remove/make dir, file, sock, fifo, symlink...
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1

_READ = _EXECUTE | _READ_FILE | _READ_DIR
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid):
    """Have the kernel kill this worker when the process that started it dies.

    The worker runs in a session of its own (so that a timeout kills its whole group),
    which also puts it outside the judge's group: without this a killed judge would
    leave a hanging submission running forever. `parent_pid` None: started by bwrap,
    whose own --die-with-parent ties it to the judge.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)  # SIGKILL
    if parent_pid is not None and os.getppid() != parent_pid:  # the judge died before the request took effect
        os._exit(1)


LIMITS = {"memory": resource.RLIMIT_AS, "file_size": resource.RLIMIT_FSIZE, "processes": resource.RLIMIT_NPROC, "core": resource.RLIMIT_CORE}


def apply_resource_limits(memory_bytes, max_file_bytes=1 << 30, max_processes=None):
    """Cap address space, file size and (for a uid of its own) processes; no core files."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes:  # threads count too: TensorFlow starts dozens
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


def current_limits():
    """{name: soft limit} of this process, for the judge to compare with what it set."""
    return {name: resource.getrlimit(which)[0] for name, which in LIMITS.items()}


def _landlock_abi(libc):
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return 0
    abi = libc.syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    return max(abi, 0)


def _handled_fs(abi):
    rights = _READ | _WRITE_FILE | _MAKE_ALL
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def _add_path_rule(libc, ruleset_fd, path, access, handled):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path this machine lacks needs no rule
    try:
        if not os.path.isdir(path):
            access &= _FILE_RIGHTS
        attr = struct.pack("=Qi", access & handled, fd)
        if libc.syscall(_SYS_ADD_RULE, ruleset_fd, _RULE_PATH_BENEATH, attr, 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)


def confine(read_paths, write_paths, list_only=()):
    """Restrict this process to reading read_paths and writing write_paths.

    Folders in `list_only` may be listed (Python's importer lists a package's folder) but
    only the files named in read_paths can be read.

    Returns a one-line description of the sandbox in force, for the grade report.
    Signals to processes outside the sandbox (the judge) are blocked where the kernel
    supports it (Landlock ABI 6).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = _landlock_abi(libc)
    if abi < 1:
        return "no Landlock on this kernel: working-directory isolation and resource limits only"
    handled = _handled_fs(abi)
    attr_fields = [handled]
    scoped = 0
    if abi >= 4:
        attr_fields.append(_NET_BIND_TCP | _NET_CONNECT_TCP)  # handled with no rule: no TCP at all
    if abi >= 6:
        scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        attr_fields.append(scoped)
    attr = struct.pack("=" + "Q" * len(attr_fields), *attr_fields)
    ruleset_fd = libc.syscall(_SYS_CREATE_RULESET, attr, len(attr), 0)
    if ruleset_fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for path in read_paths:
            _add_path_rule(libc, ruleset_fd, path, _READ, handled)
        for path in list_only:
            _add_path_rule(libc, ruleset_fd, path, _READ_DIR, handled)
        for path in write_paths:
            _add_path_rule(libc, ruleset_fd, path, handled, handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset_fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset_fd)
    signals = ", signals to the judge blocked" if scoped else ""
    network = ", no TCP" if abi >= 4 else ""
    return f"Landlock ABI {abi}: reads limited to Python, the worker's own modules and the submission, writes to its work dir{signals}{network}"


def landlock_abi():
    """The kernel's Landlock ABI version (0: none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return _landlock_abi(libc)


# Outside a PID namespace /proc shows every process: only the worker's own entries are read.
_PROC_SHARED = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/sys", "/proc/filesystems", "/proc/mounts")


def default_read_paths(extra=(), own_proc=False):
    """What a Python worker with the scientific stack needs to read, and nothing of the judge's."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p)
    paths.update(["/usr", "/lib", "/lib64", "/sys", "/dev", "/opt", "/bin", "/sbin"])
    paths.update(["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives"])
    paths.update(["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"])  # world-readable: pwd.getpwuid() works
    paths.update([f"/proc/{os.getpid()}", *_PROC_SHARED] if own_proc else ["/proc"])
    paths.update(os.path.realpath(p) for p in list(paths))
    paths.update(extra)
    return sorted(paths)


# seccomp: the few system calls that reach into another process when uids and namespaces
# do not stop them (a worker left at the grader's uid on a platform without namespaces).
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1
_ARCHES = {  # audit arch, then the numbers of ptrace, process_vm_readv, process_vm_writev, prlimit64, socket
    "x86_64": (0xC000003E, (101, 310, 311), 302, 41),
    "aarch64": (0xC00000B7, (117, 270, 271), 261, 198),
}


class _Instruction(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def _seccomp_instructions(arch, denied, prlimit, socket, deny_sockets):
    """BPF: EPERM for `denied` calls, prlimit64 on any pid but 0 (itself), sockets if asked, foreign ABIs."""
    denied = (*denied, socket) if deny_sockets else denied
    # Jump offsets count from the next instruction; ALLOW and DENY are the last two.
    body = [("ld", 4), ("arch", arch), ("ld", 0), ("x32", 0x40000000), *[("deny_if", number) for number in denied], ("prlimit", prlimit), ("ld", 16), ("self", 0)]
    allow, deny = len(body), len(body) + 1
    program = []
    for index, (kind, value) in enumerate(body):
        to_allow, to_deny = allow - index - 1, deny - index - 1
        program.append({
            "ld": (_LD_ABS, 0, 0, value),
            "arch": (_JEQ, 0, to_deny, value),  # another ABI (i386 via int 0x80): deny
            "x32": (_JGE, to_deny, 0, value),  # x32 numbers on x86_64: deny
            "deny_if": (_JEQ, to_deny, 0, value),
            "prlimit": (_JEQ, 0, to_allow, value),  # not prlimit64: allow
            "self": (_JEQ, to_allow, to_deny, value),  # prlimit64's pid: 0 is this process
        }[kind])
    return program + [(_RET, 0, 0, _ALLOW), (_RET, 0, 0, _EPERM)]


def forbid_reaching_others(deny_sockets):
    """Install the seccomp filter; returns a phrase for the sandbox description ("" if unsupported).

    `deny_sockets` where the worker shares the host's network and filesystem (no namespaces):
    Landlock does not cover UDP nor a UNIX socket's path.
    """
    numbers = _ARCHES.get(platform.machine())
    if platform.system() != "Linux" or numbers is None:
        return ""
    instructions = _seccomp_instructions(*numbers, deny_sockets)
    array = (_Instruction * len(instructions))(*[_Instruction(*instruction) for instruction in instructions])
    program = _Program(len(instructions), array)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return ""
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        return ""
    sockets = ", no sockets" if deny_sockets else ""
    return f"seccomp: no ptrace, process_vm or prlimit of other processes{sockets}"
