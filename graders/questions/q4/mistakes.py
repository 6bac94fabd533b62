"""Known wrong answers for Q4: the shape and parameter formulas with one known mistake each.

`Formulas()` holds the right formulas; each entry of `MISTAKES` switches one of them to a
mistake students make. Diagnosing recomputes the same call (or the whole golden table, so a
wrong shape early in the table explains every row after it) under each mistake and returns
the Findings of the ones that reproduce what the submission returned, joined as alternatives.
"""
import dataclasses
import math
from pathlib import Path

from graders.judge.mistakes import Catalogue, Located, either, together

GOLDEN_INPUT = (28, 28, 1)
LAYER_NAMES = ("Input", "Conv2D", "MaxPool2D", "LocallyConnected2D", "Flatten", "Dense")
TABLE_KEYS = ("layer", "output_shape", "out_size", "params")


@dataclasses.dataclass(frozen=True)
class Formulas:
    """Q4's formulas; every field at its default gives the right answer."""

    ceil: bool = False
    plus_one: bool = True
    padding_sides: int = 2
    ignore_strides: bool = False
    pool_stride_one: bool = False
    pool_strides_ignored: bool = False
    conv_bias: bool = True
    conv_channels: bool = True
    lc_shared: bool = False
    lc_bias: str = "per position"  # or "per filter", "none"
    lc_channels: bool = True
    dense_bias: bool = True

    def length(self, n, k, s, p):
        s = 1 if self.ignore_strides else s
        span = n - k + self.padding_sides * p
        return (math.ceil(span / s) if self.ceil else span // s) + (1 if self.plus_one else 0)

    def conv2d_output_shape(self, input_shape, filters, kernel_size, strides=1, padding=0):
        h, w, _ = input_shape
        return (self.length(h, kernel_size, strides, padding), self.length(w, kernel_size, strides, padding), filters)

    def pool2d_output_shape(self, input_shape, pool_size, strides=None):
        h, w, c = input_shape
        s = (1 if self.pool_stride_one else pool_size) if strides is None or self.pool_strides_ignored else strides
        return (self.length(h, pool_size, s, 0), self.length(w, pool_size, s, 0), c)

    def conv2d_params(self, input_shape, filters, kernel_size):
        c = input_shape[2] if self.conv_channels else 1
        return (kernel_size * kernel_size * c + self.conv_bias) * filters

    def locally_connected2d_params(self, input_shape, filters, kernel_size, strides=1, padding=0):
        oh, ow, f = self.conv2d_output_shape(input_shape, filters, kernel_size, strides, padding)
        weights = kernel_size * kernel_size * (input_shape[2] if self.lc_channels else 1) * f
        biases = {"per position": oh * ow * f, "per filter": f, "none": 0}[self.lc_bias]
        if self.lc_shared:
            return weights + (0 if self.lc_bias == "none" else f)
        return oh * ow * weights + biases

    def dense_params(self, in_units, units):
        return (in_units + self.dense_bias) * units

    def layer_table(self):
        """The golden architecture's rows, computed with these formulas."""
        rows = [_row("Input", GOLDEN_INPUT, 0)]
        conv1 = self.conv2d_output_shape(GOLDEN_INPUT, 20, 7)
        rows.append(_row("Conv2D", conv1, self.conv2d_params(GOLDEN_INPUT, 20, 7)))
        pool = self.pool2d_output_shape(conv1, 2)
        rows.append(_row("MaxPool2D", pool, 0))
        conv2 = self.conv2d_output_shape(pool, 10, 5)
        rows.append(_row("Conv2D", conv2, self.conv2d_params(pool, 10, 5)))
        local = self.conv2d_output_shape(conv2, 2, 3)
        rows.append(_row("LocallyConnected2D", local, self.locally_connected2d_params(conv2, 2, 3)))
        flat = (math.prod(local),)
        rows.append(_row("Flatten", flat, 0))
        rows.append(_row("Dense", (10,), self.dense_params(flat[0], 10)))
        return rows


def _row(layer, output_shape, params):
    return {"layer": layer, "output_shape": tuple(output_shape), "out_size": math.prod(output_shape), "params": params}


CATALOGUE = Catalogue.load(Path(__file__).with_name("mistakes.yaml"), "q4")


def __getattr__(name):
    """The catalogue's entries as this module's names too (`mistakes.SATURATION`)."""
    return getattr(CATALOGUE, name)
MISTAKES = (
    (Formulas(ceil=True), CATALOGUE.CEIL),
    (Formulas(plus_one=False), CATALOGUE.MISSING_PLUS_ONE),
    (Formulas(padding_sides=1), CATALOGUE.PADDING_ONCE),
    (Formulas(ignore_strides=True), CATALOGUE.STRIDE_IGNORED),
    (Formulas(pool_stride_one=True), CATALOGUE.POOL_DEFAULT_STRIDE_ONE),
    (Formulas(pool_strides_ignored=True), CATALOGUE.POOL_STRIDES_IGNORED),
    (Formulas(conv_bias=False), CATALOGUE.CONV_NO_BIAS),
    (Formulas(conv_channels=False), CATALOGUE.CONV_NO_CHANNELS),
    (Formulas(lc_shared=True), CATALOGUE.LC_SHARED),
    (Formulas(lc_bias="per filter"), CATALOGUE.LC_BIAS_PER_FILTER),
    (Formulas(lc_bias="none"), CATALOGUE.LC_NO_BIAS),
    (Formulas(lc_channels=False), CATALOGUE.LC_NO_CHANNELS),
    (Formulas(dense_bias=False), CATALOGUE.DENSE_NO_BIAS),
)


def _equal(right, got):
    """`right == got` for any value a submission returns: an array compares elementwise, so never equal."""
    try:
        return bool(right == got)
    except (ValueError, TypeError):
        return False


def diagnose_call(got, function, *args, **kwargs):
    """The mistakes whose version of `function(*args, **kwargs)` equals `got`."""
    matching = []
    for formulas, mistake in MISTAKES:
        try:
            wrong = getattr(formulas, function)(*args, **kwargs)
        except (ArithmeticError, ValueError):
            continue
        if _equal(wrong, got) and wrong != getattr(Formulas(), function)(*args, **kwargs):
            matching.append(mistake())
    return either(matching)


def diagnose_row(got_row, index, key):
    """The mistakes whose golden table has row `index` equal to `got_row` up to and including `key`.

    Keys are checked in TABLE_KEYS order, so the keys before `key` already matched; a mistake
    that would have changed them cannot explain this row.
    """
    if key == "layer":
        return CATALOGUE.LAYER_NAME(names=", ".join(LAYER_NAMES))
    compared = TABLE_KEYS[:TABLE_KEYS.index(key) + 1]
    right = Formulas().layer_table()[index]
    matching = []
    for formulas, mistake in MISTAKES:
        wrong = formulas.layer_table()[index]
        if wrong[key] != right[key] and all(_equal(wrong[k], got_row.get(k)) for k in compared):
            matching.append(mistake())
    return either(matching)


def diagnose_rows(got_rows, expected_rows, key):
    """Per wrong row: its position, layer and the mistake that explains it."""
    notes = []
    for index, (got, expected) in enumerate(zip(got_rows, expected_rows)):
        if not _equal(expected[key], got.get(key)):
            notes.append(Located(f"row {index + 1} ({expected['layer']})", diagnose_row(got, index, key)))
    return together(*notes, joiner="; ")
