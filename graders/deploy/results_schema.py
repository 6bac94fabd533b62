"""Gradescope's results.json as a JSON Schema, and the checks a schema cannot express.

From Gradescope's autograder specification ("Output format",
https://gradescope-autograders.readthedocs.io/en/latest/specs/): every key is optional but
`score`, required at the top unless every test has one; visibility is one of hidden,
after_due_date, after_published, visible; a test's status is passed or failed; output
formats are text, html, simple_format, md, ansi. `max_score` at the top is not in the
specification: graders/judge/report.py writes it for this project's own readers and
Gradescope computes its own from the tests.
"""

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
NUMBER = {"type": "number"}
TEXT = {"type": "string"}

TEST = {
    "type": "object",
    "properties": {
        "score": NUMBER,
        "max_score": NUMBER,
        "status": {"enum": ["passed", "failed"]},
        "name": TEXT,
        "name_format": FORMAT,
        "number": TEXT,
        "output": TEXT,
        "output_format": FORMAT,
        "tags": {"type": "array", "items": TEXT},
        "visibility": VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}

LEADERBOARD_ENTRY = {
    "type": "object",
    "properties": {"name": TEXT, "value": {"type": ["number", "string"]}, "order": {"enum": ["asc", "desc"]}},
    "required": ["name", "value"],
    "additionalProperties": False,
}

RESULTS = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Gradescope autograder results.json",
    "type": "object",
    "properties": {
        "score": NUMBER,
        "max_score": NUMBER,
        "execution_time": NUMBER,
        "output": TEXT,
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST},
        "leaderboard": {"type": "array", "items": LEADERBOARD_ENTRY},
    },
    "additionalProperties": False,
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}

_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float)}


def schema_errors(value, schema=RESULTS, where="results"):
    """Where `value` breaks `schema` (the subset of JSON Schema used above), as readable lines."""
    errors = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(isinstance(value, _TYPES[kind]) and not isinstance(value, bool) for kind in kinds):
            return [f"{where}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {key!r}" for key in schema.get("required", ()) if key not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: unknown key {key!r}" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{index}]")
    if "anyOf" in schema:
        attempts = [schema_errors(value, option, where) for option in schema["anyOf"]]
        if all(attempts):
            errors.append(f"{where}: matches none of the allowed forms ({'; '.join(attempt[0] for attempt in attempts)})")
    return errors


def consistency_errors(results):
    """What a schema cannot say: scores within their maxima, the top score the sum of the tests'."""
    errors = []
    tests = results.get("tests", []) if isinstance(results, dict) else []
    for test in tests:
        score, top = test.get("score"), test.get("max_score")
        if isinstance(score, (int, float)) and isinstance(top, (int, float)) and not -1e-9 <= score <= top + 1e-9:
            errors.append(f"test {test.get('name')!r}: score {score} outside 0..{top}")
    if isinstance(results, dict) and isinstance(results.get("score"), (int, float)) and tests:
        total = sum(test.get("score", 0) for test in tests)
        if abs(total - results["score"]) > 0.01:
            errors.append(f"score {results['score']} is not the sum of the tests' scores ({total:g})")
    return errors


def validate(results):
    """Every problem of a results.json dict: the schema's, then consistency; [] when it is valid."""
    return schema_errors(results) or consistency_errors(results)
