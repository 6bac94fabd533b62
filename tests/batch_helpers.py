"""Building submissions and reading hw9-grade's outputs for tests/test_batch.py."""
import csv
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_Q1 = PROJECT_ROOT / "solutions" / "q1.py"
MUTANT_Q1 = PROJECT_ROOT / "fixtures" / "submissions" / "q1-minmax-swapped" / "q1.py"
# The console script pyproject.toml declares, beside this interpreter once the project is installed.
_SCRIPT = Path(sys.executable).with_name("hw9-grade")
HW9_GRADE = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "graders.batch.cli"]


def folder_submission(parent, name, q1_source):
    folder = Path(parent) / name
    folder.mkdir(parents=True)
    if isinstance(q1_source, Path):
        shutil.copyfile(q1_source, folder / "q1.py")
    else:
        (folder / "q1.py").write_text(q1_source)
    return folder


def zip_submission(path, entries):
    """A zip at `path` with `entries` mapping names (any, even '../x') to text or a file Path."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content.read_text() if isinstance(content, Path) else content)
    return Path(path)


def run_grade(*arguments, timeout=300, **popen):
    """Run hw9-grade to completion; return (exit code, output)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    completed = subprocess.run(
        [*HW9_GRADE, *map(str, arguments)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout, **popen
    )
    return completed.returncode, completed.stdout + completed.stderr


def start_grade(*arguments, **popen):
    """Start hw9-grade in a process group of its own (so the test can kill the group)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    return subprocess.Popen(
        [*HW9_GRADE, *map(str, arguments)], cwd=PROJECT_ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen,
    )


def gradebook(out, ignore=("seconds",)):
    """The gradebook's rows by student id, without the columns in `ignore`."""
    with open(Path(out) / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        return {row["student_id"]: {k: v for k, v in row.items() if k not in ignore} for row in csv.DictReader(stream)}


def processes_mentioning(text):
    """Live processes whose command line or environment contains `text`.

    Forked judges keep hw9-grade's command line; workers have TMPDIR under the output folder.
    """
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            mentions = [Path(f"/proc/{entry}/{name}").read_bytes() for name in ("cmdline", "environ")]
        except OSError:
            continue
        if any(text.encode() in mention for mention in mentions):
            found.append(int(entry))
    return found


def fake_judges(monkeypatch, script):
    """Judges that run the Python `script` instead of the checks: sys.argv[1] is the
    staging folder (results.json goes there), sys.argv[2] the submission folder."""
    from graders.batch import judges, processes

    def start(submission, staging, temporary, options):
        command = [sys.executable, "-c", script, str(staging), str(submission)]
        return processes.spawn(command, staging / "grading.log", dict(os.environ), staging)

    monkeypatch.setattr(judges, "start_judge", start)


def grade_here(monkeypatch, *arguments):
    """hw9-grade in this process (judges faked with `fake_judges`, no TensorFlow); its exit code.

    The graders' fingerprint is pinned to the grading options: others editing the graders
    meanwhile must not make a re-run regrade everything, a change of options must.
    """
    import json
    import signal

    from graders.batch import command

    monkeypatch.setattr(command, "grader_fingerprint", lambda options: json.dumps(options, sort_keys=True))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        return command.run([*map(os.fsdecode, arguments), "--no-preload"])
    except SystemExit as stop:
        return stop.code
    finally:
        signal.signal(signal.SIGTERM, previous)
