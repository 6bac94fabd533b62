"""Modes of what hw9-grade writes: as the umask says, so the instructor's group can read grades.

`tempfile.mkstemp` and `mkdtemp` create 0600 files and 0700 folders whatever the umask,
and the judge writes its files with them too; each file and folder is set to what a
plain `open`/`mkdir` would have made once it is complete.
"""
import os
import stat


def current_umask():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (this process runs no threads here)
    os.umask(mask)
    return mask


def file_mode(umask=None):
    return 0o666 & ~(current_umask() if umask is None else umask)


def folder_mode(umask=None):
    return 0o777 & ~(current_umask() if umask is None else umask)


def _set_mode(path, wanted):
    """chmod through a descriptor opened without following a link; links and special files are left alone."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISREG(mode):
            os.fchmod(descriptor, wanted["file"])
        elif stat.S_ISDIR(mode):
            os.fchmod(descriptor, wanted["folder"])
    finally:
        os.close(descriptor)


def publish(folder):
    """Give `folder` and everything in it (never through a link) the umask's modes."""
    umask = current_umask()
    wanted = {"file": file_mode(umask), "folder": folder_mode(umask)}
    _set_mode(folder, wanted)
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            _set_mode(os.path.join(parent, name), wanted)
