"""The judge/worker messages: round trips, and what the judge refuses to read as a response."""
import json
import os

import numpy as np
import pytest

from graders.worker.messages import Request, Response, WorkerConfig


def test_a_request_and_a_response_survive_their_line():
    request = Request(7, "call", {"module": "q1", "function": "pool2d", "args": [1, 2.5]})
    assert Request.from_line(request.line()) == request
    response = Response(7, False, error_type="ValueError", error="bad kind", traceback="  File q1.py", limits={"memory": 1 << 33})
    assert Response.parse(response.line().encode()) == response


def test_the_worker_config_survives_the_environment():
    config = WorkerConfig(1 << 30, 1 << 20, None, "/s", "/i", None, True, "/w", ["/data"], ["/h/__init__.py"], [])
    assert WorkerConfig.from_text(config.to_text()) == config


@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1, 2]", b'{"id": true, "ok": true}', b'{"id": "3", "ok": true}', b'{"id": 3, "ok": 1}', b"{" * 100_000],
    ids=["text", "list", "bool-id", "string-id", "int-ok", "deep"],
)
def test_what_is_not_a_response_is_ignored(line):
    assert Response.parse(line) is None


def test_a_response_is_read_defensively():
    line = json.dumps({"id": 4, "ok": False, "error_type": ["x"], "error": "e" * 10_000, "limits": {"memory": "lots"}})
    response = Response.parse(line.encode())
    assert (response.error_type, len(response.error), response.limits) == ("Exception", 2000, None)


def test_a_numpy_string_travels_as_the_string_it_is_and_a_string_array_as_an_unsupported_value(tmp_path):
    from graders.worker.protocol import ExchangeFolder, Unsupported, decode, encode

    value = {"optimizer": np.str_("adam"), "table": np.array(["153.5", "1"])}
    decoded = decode(encode(value, tmp_path), ExchangeFolder(tmp_path))
    assert decoded["optimizer"] == "adam" and type(decoded["optimizer"]) is str
    assert isinstance(decoded["table"], Unsupported) and "dtype <U5" in str(decoded["table"])
    assert not list(tmp_path.iterdir()), "no exchange file is written for a string array"


def test_each_value_encoded_names_its_arrays_afresh_and_rewrites_the_files_in_place(tmp_path):
    from graders.worker.protocol import ExchangeFolder, decode, encode

    first = encode({"x": np.arange(1000.0), "y": (np.int64(3), np.ones((2, 3)))}, tmp_path, prefix="a")
    inodes = {path.name: path.stat().st_ino for path in tmp_path.iterdir()}
    assert sorted(inodes) == ["a0.npy", "a1.npy", "a2.npy"]
    np.testing.assert_array_equal(decode(first, ExchangeFolder(tmp_path))["x"], np.arange(1000.0))
    second = encode([np.arange(3, dtype=np.uint8)], tmp_path, prefix="a")  # shorter: nothing of a0's first value may remain
    assert second == [{"__ndarray__": "a0.npy", "scalar": False}]
    assert (tmp_path / "a0.npy").stat().st_ino == inodes["a0.npy"], "the file is rewritten, not made anew"
    back = decode(second, ExchangeFolder(tmp_path))[0]
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, np.arange(3))


@pytest.mark.parametrize("planted", ["link", "fifo", "empty-folder"])
def test_an_exchange_name_planted_beforehand_is_replaced_never_written_through(tmp_path, planted):
    from graders.worker.protocol import ExchangeFolder, decode, encode

    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    exchange = tmp_path / "work"
    exchange.mkdir()
    make = {"link": lambda path: path.symlink_to(victim), "fifo": os.mkfifo, "empty-folder": os.mkdir}
    make[planted](exchange / "r0.npy")
    encoded = encode(np.full((4, 4), 7.0), exchange)  # a FIFO opened for writing would block without O_NONBLOCK
    assert victim.read_text() == "untouched"
    assert (exchange / "r0.npy").is_file() and not (exchange / "r0.npy").is_symlink()
    np.testing.assert_array_equal(decode(encoded, ExchangeFolder(exchange)), np.full((4, 4), 7.0))
