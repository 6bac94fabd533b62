"""Notebook submissions: the question modules built from a notebook's code cells, which are never run."""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from nbformat.v4 import new_output

from graders.notebook import build_from_file
from graders.questions import all_questions
from graders.selftest import expectations
from tests.notebook_helpers import Q1_PIECES, build

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = {question.module: (ROOT / "solutions" / f"{question.module}.py").read_text() for question in all_questions()}
EXPORTS = {question.module: set(question.exports) for question in all_questions()}
BEST_HPS_LITERAL = "BEST_HPS = {'conv_layers': 2, 'filters': 16, 'dense_layers': 3, 'units': 192, 'lr': 0.001, 'optimizer': 'adam'}"


HARNESS_NAMES = {"_hw9_unbuilt", "_hw9_why", "__getattr__"}  # what a built module adds to record failed assignments


def student_statements(source):
    """A built module's top-level statements as the student wrote them: guarded assignments unwrapped, the harness's own left out."""
    statements = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Try) and any("_hw9_unbuilt" in ast.dump(handler) for handler in node.handlers):
            statements.extend(node.body)
        elif not (top_level_names_of(node) & HARNESS_NAMES):
            statements.append(node)
    return statements


def top_level_names_of(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)}
    return set()


def top_level_names(source):
    """Names a module's top-level statements bind."""
    names = set()
    for node in student_statements(source):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def statement(build_result, cell, line):
    """The StatementReport of code cell `cell` (from 1) starting at `line`."""
    return next(report for report in build_result.cells[cell - 1].statements if report.line == line)


def colab_reference_cells():
    """The reference solutions pasted into a Colab notebook that runs its experiments at top level."""
    plot_output = new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
    return [
        ("md", "# HW9\nAll four questions."),
        ("!pip install -q keras-tuner\n%matplotlib inline", [new_output("stream", name="stdout", text="Successfully installed\n")]),
        "from google.colab import drive\ndrive.mount('/content/drive')",
        SOLUTIONS["q1"],
        ("x = np.array([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]])\nprint(pool2d(x))\nimport matplotlib.pyplot as plt\nplt.imshow(x)\nplt.show()",
         [new_output("stream", name="stdout", text="[[9. 7.]\n [8. 6.]]\n"), plot_output]),
        SOLUTIONS["q2"],
        "image = cv2.imread('/content/drive/MyDrive/cat.jpg')\nfor name in KERNEL_NAMES:\n    plt.imshow(filter_cv2(image, kernel(name)))\n    plt.show()",
        SOLUTIONS["q3"],
        "(x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()\nx_train, x_test = x_train / 255.0, x_test / 255.0",
        "tuner = make_tuner('/content/drive/MyDrive/tuner', max_epochs=10)\ntuner.search(x_train, y_train, epochs=10, validation_split=0.2)",
        "%%time\nbest = tuner.get_best_hyperparameters()[0]\nmodel = tuner.hypermodel.build(best)\nhistory = model.fit(x_train, y_train, epochs=50, validation_split=0.2)",
        ("print(best.values)", [new_output("execute_result", data={"text/plain": "{'conv_layers': 2}"}, execution_count=9)]),
        "plt.plot(history.history['val_accuracy'])\nplt.show()\nmodel.evaluate(x_test, y_test)",
        SOLUTIONS["q4"],
        "for row in layer_table():\n    print(row)\nprint(sum(row['params'] for row in layer_table()))",
    ]


@pytest.fixture(scope="module")
def reference_build():
    return build(*colab_reference_cells())


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_reference_notebook_defines_every_export(reference_build, module):
    source = reference_build.modules[module]
    assert EXPORTS[module] <= top_level_names(source)
    compile(source, f"{module}.py", "exec")  # it parses, and nothing else: compiling runs nothing
    assert module not in reference_build.missing


@pytest.mark.parametrize("experiment", [
    "pip install", "matplotlib inline", "drive.mount", "google.colab", "tuner.search", "model.fit", "plt.show",
    "load_data", "print(", "model.evaluate", "get_best_hyperparameters", "import matplotlib",
])
def test_reference_notebook_runs_no_experiment(reference_build, experiment):
    assert all(experiment not in source for source in reference_build.modules.values())


@pytest.mark.parametrize("module", sorted(EXPORTS))
def test_reference_modules_hold_the_reference_statements(reference_build, module):
    """Every statement kept in a module is one of the reference file's, and all the reference's definitions are kept."""
    reference = {ast.dump(node) for node in ast.parse(SOLUTIONS[module]).body}
    built = [ast.dump(node) for node in student_statements(reference_build.modules[module])]
    assert set(built) <= reference
    definitions = {ast.dump(node) for node in ast.parse(SOLUTIONS[module]).body if not isinstance(node, ast.Expr)}
    assert definitions <= set(built)


def test_reference_modules_compute_what_the_reference_computes(reference_build, tmp_path):
    """The built q1 and q4 (NumPy only, fast to import) give the reference's results, in a fresh interpreter."""
    reference_build.write(tmp_path / "built")
    script = textwrap.dedent("""
        import importlib.util, sys
        import numpy as np
        from solutions import q1 as ref1, q4 as ref4
        def load(name):
            spec = importlib.util.spec_from_file_location("built_" + name, sys.argv[1] + "/" + name + ".py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        q1, q4 = load("q1"), load("q4")
        x = np.random.default_rng(0).integers(0, 255, (9, 7, 3)).astype(np.uint8)
        for mode in ("max", "avg", "min"):
            np.testing.assert_allclose(q1.pool2d(x, 3, 2, mode), ref1.pool2d(x, 3, 2, mode))
            np.testing.assert_allclose(q1.global_pool(x, mode), ref1.global_pool(x, mode))
        assert [q1.conv_params(k, 3, 4, 5) for k in ("conv1d", "conv2d", "conv3d")] == [ref1.conv_params(k, 3, 4, 5) for k in ("conv1d", "conv2d", "conv3d")]
        assert q4.layer_table() == ref4.layer_table()
        assert q4.locally_connected2d_params((9, 9, 2), 3, 3, 2, 1) == ref4.locally_connected2d_params((9, 9, 2), 3, 3, 2, 1)
    """)
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "built")], cwd=ROOT, check=True, timeout=60)


def test_reference_notebook_feedback_names_dropped_experiments(reference_build):
    summary = "\n".join(reference_build.summary())
    assert "top-level call `tuner.search(...)`: experiments are not run while grading" in summary
    assert "cell magic `%%time`: the whole cell is skipped" in summary
    assert "`google.colab` exists only in Colab" in summary
    assert "shell/magic lines removed: line 1 `!pip install -q keras-tuner`, line 2 `%matplotlib inline`" in summary


def test_modules_name_the_notebook_and_each_statement_cell(reference_build):
    source = reference_build.modules["q1"]
    assert source.startswith("# Built by hw9-grade from the notebook hw9.ipynb: code cells 3")
    assert "# cell 3, line 26\ndef conv_params(" in source


def test_imports_go_only_where_used(reference_build):
    assert "import keras_tuner" not in reference_build.modules["q1"]
    assert "import cv2" in reference_build.modules["q2"] and "import cv2" not in reference_build.modules["q3"]
    assert "import numpy" not in reference_build.modules["q4"]  # the reference q4 needs nothing
    assert reference_build.modules["q3"].count("import keras\n") == 1  # q2's cell and q3's cell both import it


def test_best_hps_read_from_a_tuner_is_kept_and_flagged():
    result = build(
        SOLUTIONS["q3"].replace("BEST_HPS = {", "_UNUSED = {"),
        "tuner = make_tuner('/content/tuner')\ntuner.search(x_train, y_train, epochs=10)",
        "BEST_HPS = tuner.get_best_hyperparameters()[0].values",
    )
    assert "BEST_HPS = tuner.get_best_hyperparameters()[0].values" in result.modules["q3"]
    assert "make_tuner('/content/tuner')" not in result.modules["q3"]
    kept = statement(result, 3, 1)
    assert kept.modules == ("q3",)
    assert any("needs `tuner` at import" in note and "what it binds will be missing" in note for note in kept.notes)
    dropped = statement(result, 2, 1)
    assert not dropped.kept and "dropped code changes `tuner` (code cell 2, line 2)" in dropped.reason


def test_best_hps_through_an_intermediate_name():
    result = build(SOLUTIONS["q3"], "tuner = make_tuner('t')\ntuner.search(x, y)\nbest = tuner.get_best_hyperparameters()[0]\nBEST_HPS = best.values")
    assert "best = tuner.get_best_hyperparameters()[0]" in result.modules["q3"]
    assert any("needs `tuner` at import" in note for note in statement(result, 2, 3).notes)


def test_constants_used_through_other_constants_are_kept():
    result = build(
        "import keras\nIMG = 32\nINPUT_SHAPE = (IMG, IMG, 3)\nprint(INPUT_SHAPE, IMG.bit_length())",
        "SIZES = {'a': 1}\nNAMES = list(SIZES)\nfor name, size in SIZES.items():\n    print(SIZES.get(name))",
        "def build_model(hp):\n    return keras.Input(shape=INPUT_SHAPE), NAMES",
    )
    for kept in ("IMG = 32", "INPUT_SHAPE = (IMG, IMG, 3)", "SIZES = {'a': 1}", "NAMES = list(SIZES)"):
        assert kept in result.modules["q3"]


def test_function_redefined_in_a_later_cell_wins():
    result = build(*Q1_PIECES, "def conv_params(kind, k, c, f):\n    return k * c * f  # draft", "def conv_params(kind, k, c, f):\n    return (k * c + 1) * f")
    assert "# draft" not in result.modules["q1"] and "(k * c + 1) * f" in result.modules["q1"]
    assert statement(result, 3, 1).reason == "`conv_params` is defined again in code cell 4 (line 1), which wins"


def test_a_later_literal_best_hps_replaces_one_read_from_a_tuner():
    result = build(SOLUTIONS["q3"].replace("BEST_HPS = {", "_UNUSED = {"), "BEST_HPS = tuner.get_best_hyperparameters()[0].values", BEST_HPS_LITERAL)
    assert "tuner.get_best" not in result.modules["q3"] and not any(report.notes for cell in result.cells for report in cell.statements)


def test_syntax_error_loses_only_that_cells_names():
    result = build(*Q1_PIECES, "def pool2d(x, pool_size=2, strides=None, mode='max'):\n    return np.asarray(x", "def global_pool(x, mode='avg'):\n    return np.mean(x, axis=(0, 1))")
    assert result.cells[2].error == "line 2: '(' was never closed"
    assert {"conv_input_rank", "global_pool"} <= top_level_names(result.modules["q1"])
    assert "pool2d" not in top_level_names(result.modules["q1"])
    assert result.missing["q1"]["pool2d"].startswith("code cell 3, which seems to define `pool2d`, was not used (line 2:")


def test_helper_defined_in_a_later_cell_is_included():
    result = build("def dense_params(in_units, units):\n    return _count(in_units, units)", "x = dense_params(3, 4)", "def _count(a, b):\n    return (a + 1) * b")
    source = result.modules["q4"]
    assert source.index("def dense_params") < source.index("def _count")
    assert not statement(result, 1, 1).notes


def test_colab_drive_is_dropped_with_a_reason():
    result = build("from google.colab import drive\ndrive.mount('/content/drive')\nfrom google.colab.patches import cv2_imshow", *Q1_PIECES)
    assert "google" not in result.modules["q1"] and "drive" not in result.modules["q1"]
    assert [report.reason for report in result.cells[0].statements] == [
        "`google.colab` exists only in Colab: Colab-only imports are dropped",
        "top-level call `drive.mount(...)`: experiments are not run while grading",
        "`google.colab.patches` exists only in Colab: Colab-only imports are dropped",
    ]


def test_an_exported_lambda_is_kept():
    result = build("layer_table = lambda: [{'layer': 'Input', 'output_shape': (28, 28, 1), 'out_size': 784, 'params': 0}]")
    assert "layer_table = lambda:" in result.modules["q4"]


def test_a_question_without_any_of_its_names_is_not_built():
    result = build(*Q1_PIECES)
    assert list(result.modules) == ["q1"]
    assert result.missing["q2"]["kernel"] == "the notebook never defines `kernel`"
    assert "q3: not built, no kept code defines any of build_model, make_tuner, BEST_HPS (the question counts as missing)" in result.summary()


def test_a_name_defined_only_inside_a_dropped_block_is_explained():
    result = build(*Q1_PIECES, "if True:\n    def global_pool(x, mode='avg'):\n        return x.mean((0, 1))")
    assert result.missing["q1"]["global_pool"] == "`global_pool` is defined only by dropped code (code cell 3, line 1)"


def test_imports_in_a_try_block_are_kept():
    result = build("try:\n    import keras_tuner as kt\nexcept ImportError:\n    !pip install keras-tuner\n    import keras_tuner as kt", "def make_tuner(directory):\n    return kt.Hyperband(None, directory=directory)")
    assert "    pass\n    import keras_tuner as kt" in result.modules["q3"]


def test_future_import_is_hoisted_and_windows_newlines_are_read():
    result = build("import numpy as np\r\ndef conv_input_rank(kind):\r\n    return np.int64(3)", "from __future__ import annotations")
    source = result.modules["q1"]
    assert source.index("from __future__ import annotations") < source.index("import numpy as np")
    assert "\r" not in source
    compile(source, "q1.py", "exec")


def test_augmented_assignment_after_the_last_assignment_is_kept():
    result = build("SIZES = [1]\nSIZES += [2]", "SIZES = [3]\nSIZES += [4]", "def conv_input_rank(kind):\n    return len(SIZES)")
    assert [report.kept for cell in result.cells[:2] for report in cell.statements] == [False, False, True, True]
    assert statement(result, 1, 2).reason == "`SIZES` is defined again in code cell 2 (line 1), which wins"


def test_an_import_is_dropped_for_a_later_definition_and_repeated_imports_once():
    result = build("from numpy import mean as pool2d\nimport numpy as np", "import numpy as np\ndef pool2d(x):\n    return np.max(x)")
    assert "from numpy import mean" not in result.modules["q1"]
    assert result.modules["q1"].count("import numpy as np") == 1


def test_a_name_only_a_skipped_cell_defines_is_noted_on_its_user():
    result = build("%%time\nSIZE = 3", "def pool2d(x):\n    return x[:SIZE]")
    assert statement(result, 2, 1).notes == (
        "uses `SIZE`, but code cell 1, which seems to define `SIZE`, was not used "
        "(cell magic `%%time`: the whole cell is skipped): calling it will fail",
    )


def test_exports_bound_together_and_star_imports():
    result = build("from helpers import *", "conv_params, conv_input_rank = (lambda *a: 0), (lambda k: 3)", "import keras\nbuild_model = keras.Sequential")
    assert "from helpers import *" in result.modules["q1"] and "from helpers import *" in result.modules["q3"]
    assert "conv_params, conv_input_rank = " in result.modules["q1"]


def test_building_runs_nothing(tmp_path):
    sentinel = tmp_path / "RAN"
    result = build(
        f"import os\nos.system('touch {sentinel}')\nopen({str(sentinel)!r}, 'w')",
        f"def conv_input_rank(kind, _=open({str(sentinel)!r}, 'w')):\n    return 3",
        f"@(lambda f: os.system('touch {sentinel}') or f)\ndef conv_params(kind, k, c, f):\n    return 0",
    )
    assert not sentinel.exists()
    assert [report.kept for report in result.cells[0].statements] == [True, False, False]  # `import os`: the decorator uses it
    assert statement(result, 3, 1).kept  # a kept definition's decorator would run at import, in the worker


NOTEBOOK_ENTRIES = [entry for entry in expectations.discover()[0] if entry.expected.notebook is not None]


def test_the_corpus_holds_notebook_entries():
    assert len(NOTEBOOK_ENTRIES) >= 8


@pytest.mark.parametrize("entry", NOTEBOOK_ENTRIES, ids=lambda entry: entry.name)
def test_corpus_notebooks_build_as_their_expectations_say(entry):
    [path] = entry.path.glob("*.ipynb")
    expected = entry.expected.notebook
    result = build_from_file(path)
    assert tuple(result.modules) == expected.built
    missing = [f"{module}.{name}" for module, names in result.missing.items() if module in result.modules for name in names]
    assert tuple(missing) == expected.missing
    for text in expected.absent:
        assert not any(text in source for source in result.modules.values()), text


def test_a_failed_assignment_costs_only_the_names_it_binds(tmp_path):
    """BEST_HPS read from a tuner fails at import; the rest of q3 still imports, and BEST_HPS says why."""
    result = build(
        SOLUTIONS["q3"].replace("BEST_HPS = {", "_UNUSED = {"),
        "tuner = make_tuner('/content/tuner')\ntuner.search(x_train, y_train, epochs=10)",
        "best = tuner.get_best_hyperparameters()[0]\nBEST_HPS = best.values",
    )
    namespace = {}
    exec(compile(result.modules["q3"].replace("import keras_tuner", "keras_tuner = None").replace("import keras", "keras = None"), "q3.py", "exec"), namespace)
    assert callable(namespace["build_model"]) and callable(namespace["make_tuner"])
    with pytest.raises(ImportError, match=r"`BEST_HPS` could not be built from the notebook at import: NameError: .*'best'.*`best` failed: NameError: name 'tuner'"):
        namespace["__getattr__"]("BEST_HPS")
    with pytest.raises(AttributeError):
        namespace["__getattr__"]("anything_else")
