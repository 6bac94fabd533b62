"""YAML files of our own (rubric, mistake catalogues, corpus expectations), read safely and fast."""
from pathlib import Path

import yaml

# libyaml's C parser reads the same safe subset about ten times faster than the pure-Python
# one; every judge reads the rubric and the catalogues, so this is paid once per submission.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text):
    """`yaml.safe_load(text)`, with the C loader where PyYAML was built with it."""
    return yaml.load(text, Loader=_LOADER)


def read(path):
    """The data of the UTF-8 YAML file at `path`."""
    return load(Path(path).read_text(encoding="utf-8"))
