"""What the judge and the worker tell each other, as dataclasses: one JSON object per line.

`WorkerConfig` travels once, in the worker's environment; `Request`s go down the request
pipe, `Response`s come back. The judge parses responses as untrusted data: student code
shares the worker's process and may write anything on its pipe.
"""
import json
from dataclasses import asdict, dataclass, field

CONFIG_VARIABLE = "HW9_WORKER_SETTINGS"
HELLO_ID = 0  # the response the worker sends once confined, before any request
MAX_ERROR_TYPE, MAX_ERROR, MAX_TRACEBACK = 100, 2000, 3000


def dumps(message):
    """One line of JSON; `message` a dict of plain values (arrays already travel as files).

    Messages pass their fields as they are (`vars`): `asdict` would deep-copy every answer first.
    """
    return json.dumps(message, allow_nan=False, default=str) + "\n"


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker needs to confine itself and find the submission."""

    memory_bytes: int
    max_file_bytes: int
    max_processes: int | None  # only enforced for a uid of the worker's own
    submission: str
    inbox: str
    judge_pid: int | None  # None in a PID namespace of its own: the judge is not visible there
    own_pid_namespace: bool
    workdir: str
    read_paths: list = field(default_factory=list)
    harness_files: list = field(default_factory=list)
    device_paths: list = field(default_factory=list)

    def to_text(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_text(cls, text):
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Request:
    """Run probe `probe` (a `probe_<name>` function of the worker) with `params`."""

    id: int
    probe: str
    params: dict = field(default_factory=dict)

    def line(self):
        return dumps(vars(self))

    @classmethod
    def from_line(cls, line):
        data = json.loads(line)
        return cls(id=int(data["id"]), probe=str(data["probe"]), params=dict(data.get("params") or {}))


@dataclass(frozen=True)
class Response:
    """The answer to request `id`: a value, or the exception the submission raised."""

    id: int
    ok: bool
    value: object = None
    error_type: str = ""  # the exception's class name
    error: str = ""
    traceback: str = ""  # the submission's own frames
    limits: dict | None = None  # the worker's resource limits as it sees them

    def line(self):
        return dumps(vars(self))

    @classmethod
    def parse(cls, line):
        """The Response in `line`, or None when it is not one (anything else written on the pipe)."""
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or not _is_int(data.get("id")) or not isinstance(data.get("ok"), bool):
            return None
        limits = data.get("limits")
        if not isinstance(limits, dict) or not all(isinstance(key, str) and _is_int(value) for key, value in limits.items()):
            limits = None
        return cls(
            id=data["id"],
            ok=data["ok"],
            value=data.get("value"),
            error_type=_text(data.get("error_type"), "Exception")[:MAX_ERROR_TYPE],
            error=_text(data.get("error"), "").strip()[:MAX_ERROR],
            traceback=_text(data.get("traceback"), "")[:MAX_TRACEBACK],
            limits=limits,
        )


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value, default):
    return value if isinstance(value, str) else default
