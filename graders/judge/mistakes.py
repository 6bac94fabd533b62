"""Named mistakes as data: a catalogue of `Mistake`s with stable ids, and the `Finding`s checks report.

A question's entries are data, in its `mistakes.yaml` (ids prefixed by the question's name,
e.g. `q2.saturation`), loaded by its `mistakes.py` into a `Catalogue` whose entries are
read as attributes (`CATALOGUE.SATURATION`); its diagnoses return a `Finding` (the mistake and
the numbers of this case as `params`), several of them told together (`Joined`), one
about a part of the answer (`Located`), or None. The sentence a student reads is
rendered here and nowhere else; results.json carries `data()`, which the class report
groups by id. The generic entries below name the failures every check can meet.
"""
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graders.judge import yaml_data


@dataclass(frozen=True)
class Mistake:
    """One catalogue entry: `hint` is the sentence students read, a `str.format` of the finding's params."""

    id: str  # "q2.saturation": never renamed, the class report groups by it
    title: str  # a short label for tables, without any case's numbers
    hint: str = ""  # the title when empty

    def __call__(self, **params):
        return Finding(self, params)

    def render(self, params):
        return self.hint.format(**params) if self.hint else self.title


_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")
_ENTRY_KEYS = {"id", "title", "hint"}


class Catalogue:
    """The mistakes of one question (or the generic ones), ids unique and under one prefix.

    Each entry is also an attribute named by its constant (`CATALOGUE.SATURATION`), as its
    data file declares it.
    """

    def __init__(self, prefixes):
        self.prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
        self.entries = {}
        self.constants = {}

    @classmethod
    def load(cls, path, prefixes):
        """The catalogue declared in the YAML file `path`: `CONSTANT: {id, title, hint}` per entry, in order."""
        path = Path(path)
        data = yaml_data.read(path)
        if not isinstance(data, dict):
            raise ValueError(f"{path.name}: a mistake catalogue is a mapping of CONSTANT: {{id, title, hint}}, got {type(data).__name__}")
        catalogue = cls(prefixes)
        for constant, entry in data.items():
            if not isinstance(entry, dict) or not {"id", "title"} <= set(entry) <= _ENTRY_KEYS:
                raise ValueError(f"{path.name}: {constant} must map id, title and optionally hint, got {entry!r}")
            catalogue.add(entry["id"], entry["title"], entry.get("hint", ""), constant=constant)
        return catalogue

    def add(self, id, title, hint="", constant=None):
        if id.split(".", 1)[0] not in self.prefixes or id.count(".") != 1 or not id.split(".", 1)[1]:
            raise ValueError(f"mistake id {id!r} is not '<{'|'.join(self.prefixes)}>.<name>'")
        if id in self.entries:
            raise ValueError(f"mistake id {id!r} declared twice")
        if constant is not None:
            if not isinstance(constant, str) or not _CONSTANT.fullmatch(constant) or constant in self.constants:
                raise ValueError(f"mistake constant must be a new UPPER_CASE name, got constant={constant!r} for {id!r}")
            self.constants[constant] = id
        self.entries[id] = Mistake(id, title, hint)
        return self.entries[id]

    def __getattr__(self, name):
        constants = self.__dict__.get("constants", {})
        if name not in constants:
            raise AttributeError(f"the {'/'.join(self.__dict__.get('prefixes', ()))} mistake catalogue has no {name!r}")
        return self.entries[constants[name]]

    def __iter__(self):
        return iter(self.entries.values())


def _plain(value):
    """`value` as JSON data; tuples stay tuples so a hint renders them as before."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)  # a dtype, a value the worker could not send as data


class _Told:
    """What every diagnosis shares: its sentence as str(), and keywords looked up in it."""

    def __str__(self):
        return self.text()

    def __contains__(self, keyword):
        """Whether the sentence mentions `keyword`, as the corpus's expectations read feedback."""
        return keyword in self.text()


@dataclass(frozen=True)
class Finding(_Told):
    """A mistake seen in one case, with that case's numbers (`{"divisor": 16}`)."""

    mistake: Mistake
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "params", {key: _plain(value) for key, value in self.params.items()})

    def text(self):
        return self.mistake.render(self.params)

    def findings(self):
        return (self,)

    def data(self):
        """What results.json carries: {"id", "title", "params"}."""
        return {"id": self.mistake.id, "title": self.mistake.title, "params": _json(self.params)}


@dataclass(frozen=True)
class Joined(_Told):
    """Findings told in one sentence: "; or " between alternatives, "; and " between mistakes made together."""

    parts: tuple
    joiner: str = "; or "

    def text(self):
        return self.joiner.join(part.text() for part in self.parts)

    def findings(self):
        return tuple(finding for part in self.parts for finding in part.findings())


@dataclass(frozen=True)
class Located(_Told):
    """A finding (or none known) about one part of the answer: "row 2 (Conv2D): ..."."""

    where: str
    finding: object = None  # a Finding, Joined, or None
    form: str = "{where}: {finding}"
    unknown: str = "wrong"

    def text(self):
        return self.form.format(where=self.where, finding=self.unknown if self.finding is None else self.finding.text())

    def findings(self):
        return () if self.finding is None else self.finding.findings()


def either(diagnoses):
    """The diagnoses that fit (None dropped, repeats once) as alternatives; None if none fits."""
    kept = []
    for diagnosis in diagnoses:
        if diagnosis is not None and diagnosis not in kept:
            kept.append(diagnosis)
    return None if not kept else kept[0] if len(kept) == 1 else Joined(tuple(kept))


def together(*diagnoses, joiner="; and "):
    """Mistakes made together; None dropped."""
    kept = [diagnosis for diagnosis in diagnoses if diagnosis is not None]
    return None if not kept else kept[0] if len(kept) == 1 else Joined(tuple(kept), joiner)


def _json(value):
    if isinstance(value, (list, tuple)):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value


# ---- failures any check can meet -----------------------------------------------------------

GENERIC = Catalogue.load(Path(__file__).with_name("mistakes.yaml"), ("call", "return"))


def __getattr__(name):
    """The generic entries as this module's names too (`mistakes.TIMEOUT`)."""
    return getattr(GENERIC, name)
