"""hw9-grade's grading processes: what a stray kill may reach, run in a process of its own.

hw9-grade is a child subreaper, so a process left behind by a judge's child is adopted by
it while that judge still runs. Such an orphan may still be in the running judge's process
group (bubblewrap's monitor exits before its init, and a judge probes bubblewrap before it
adopts orphans itself): killing the orphan must not kill that group.
"""
import json
import subprocess
import sys

from graders.layout import PROJECT_ROOT

# The subreaper and the judge run in a child process: kill_strays kills every unknown child of
# its caller, and this test process has others (fork servers of earlier tests).
SCRIPT = """
import json, os, time
from graders.batch import processes

processes.become_subreaper()
me = os.getpid()


def judge():
    # A child in the judge's group leaves a grandchild behind, as bubblewrap's monitor leaves its init.
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        os._exit(0)
    os.wait()
    time.sleep(60)
    return 0


def ended(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


judge_pid = processes.spawn(judge, os.devnull, dict(os.environ), ".")
orphans, deadline = [], time.monotonic() + 30
while not orphans and time.monotonic() < deadline:
    orphans = [child for child, parent in processes._parents().items() if parent == me and child != judge_pid]
    time.sleep(0.02)
orphan = orphans[0]
orphan_group = os.getpgid(orphan)
processes.kill_strays({judge_pid})
time.sleep(0.5)  # a signal to the judge's group would have ended it by now
judge_ended, _ = os.waitpid(judge_pid, os.WNOHANG)
orphan_ended = ended(orphan)
if not judge_ended:
    processes.kill_tree(judge_pid)
    os.waitpid(judge_pid, 0)
print(json.dumps({
    "orphan_in_judges_group": orphan_group == judge_pid,
    "orphan_ended": orphan_ended,
    "judge_alive": judge_ended == 0,
}))
"""


def test_killing_a_stray_in_a_running_judges_process_group_leaves_the_judge_running():
    completed = subprocess.run([sys.executable, "-c", SCRIPT], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"orphan_in_judges_group": True, "orphan_ended": True, "judge_alive": True}
