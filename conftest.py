"""Loads the grading plugin: `pytest --submission PATH` grades the folder at PATH."""

pytest_plugins = ["graders.plugin"]
