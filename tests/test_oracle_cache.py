"""Oracle values shared by the judges of one hw9-grade run (graders/judge/oracle_cache.py)."""
import os

import numpy as np
import pytest

from graders.batch import judges, store
from graders.judge import oracle_cache

KEY = ["a value", 1, {"lr": 0.001}]


class Counted:
    """An oracle that counts its calls."""

    def __init__(self, value):
        self.value, self.calls = value, 0

    def __call__(self):
        self.calls += 1
        return self.value


@pytest.fixture
def private_folder(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv(oracle_cache.FOLDER_VARIABLE, str(folder))
    return folder


def test_a_value_is_computed_once_per_run_and_read_back_exactly(private_folder):
    value = np.random.default_rng(0).random((2, 10))
    first, second = Counted(value), Counted(np.zeros((2, 10)))
    np.testing.assert_array_equal(oracle_cache.cached_array(KEY, first), value)
    np.testing.assert_allclose(oracle_cache.cached_array(KEY, second), value, rtol=0, atol=0)
    assert (first.calls, second.calls) == (1, 0)
    assert [path.name for path in private_folder.iterdir()] == [oracle_cache.key_of(KEY)]


def test_another_key_is_another_value(private_folder):
    oracle_cache.cached_array(KEY, Counted(np.ones(3)))
    other = Counted(np.zeros(3))
    np.testing.assert_array_equal(oracle_cache.cached_array([*KEY, "changed"], other), np.zeros(3))
    assert other.calls == 1


def test_without_the_folder_every_call_computes(monkeypatch):
    monkeypatch.delenv(oracle_cache.FOLDER_VARIABLE, raising=False)
    oracle = Counted(np.ones(3))
    for _ in range(2):
        oracle_cache.cached_array(KEY, oracle)
    assert oracle.calls == 2


@pytest.mark.parametrize("mode", [0o755, 0o733, 0o707], ids=["readable-by-others", "writable-by-group", "writable-by-others"])
def test_a_folder_others_can_reach_is_not_used(tmp_path, monkeypatch, mode):
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(mode)
    monkeypatch.setenv(oracle_cache.FOLDER_VARIABLE, str(folder))
    oracle = Counted(np.ones(3))
    for _ in range(2):
        oracle_cache.cached_array(KEY, oracle)
    assert oracle.calls == 2 and not list(folder.iterdir())


def test_a_link_to_a_private_folder_is_not_used(private_folder, tmp_path, monkeypatch):
    link = tmp_path / "link"
    link.symlink_to(private_folder)
    monkeypatch.setenv(oracle_cache.FOLDER_VARIABLE, str(link))
    assert oracle_cache.folder() is None


def test_an_oracle_that_raises_leaves_nothing_behind(private_folder):
    def failing():
        raise ValueError("this space cannot be counted")

    with pytest.raises(ValueError, match="cannot be counted"):
        oracle_cache.cached_array(KEY, failing)
    assert not list(private_folder.iterdir())


def test_a_cut_short_file_is_computed_again(private_folder):
    (private_folder / oracle_cache.key_of(KEY)).write_bytes(b"\x93NUMPY")
    oracle = Counted(np.arange(4.0))
    np.testing.assert_array_equal(oracle_cache.cached_array(KEY, oracle), np.arange(4.0))
    assert oracle.calls == 1


def test_hw9_grade_gives_its_judges_its_own_private_folder_only(tmp_path, monkeypatch):
    monkeypatch.setenv(oracle_cache.FOLDER_VARIABLE, str(tmp_path / "a folder of the caller's"))
    folder = store.Layout(tmp_path / "out").new_oracle_cache()
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700) and folder.parent == tmp_path / "out" / ".staging"
    with_folder = judges.GradingOptions(jobs=1, timeout=1.0, oracle_cache=str(folder))
    assert judges.judge_environment(with_folder, tmp_path)[oracle_cache.FOLDER_VARIABLE] == str(folder)
    assert oracle_cache.FOLDER_VARIABLE not in judges.judge_environment(judges.GradingOptions(jobs=1, timeout=1.0), tmp_path)


def test_the_worker_environment_never_names_the_folder(private_folder):
    from graders.judge import jail

    assert oracle_cache.FOLDER_VARIABLE not in jail.allowed_environment({}) and os.environ[oracle_cache.FOLDER_VARIABLE]
