"""Known wrong answers for Q4: the shape and parameter formulas with one known mistake each.

`Formulas()` holds the right formulas; each entry of `MISTAKES` switches one of them to a
mistake students make. Diagnosing recomputes the same call (or the whole golden table, so a
wrong shape early in the table explains every row after it) under each mistake and returns
the Findings of the ones that reproduce what the submission returned, joined as alternatives.
"""
import dataclasses
import math

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


CATALOGUE = Catalogue("q4")
add = CATALOGUE.add
MISTAKES = (
    (Formulas(ceil=True), add("q4.ceil", "output size rounded up (ceil)",
                              "output size rounded up (ceil) instead of down (floor): floor((n - k + 2p) / s) + 1")),
    (Formulas(plus_one=False), add("q4.missing-plus-one", "output size without the +1",
                                   "output size without the +1: floor((n - k + 2p) / s) + 1")),
    (Formulas(padding_sides=1), add("q4.padding-once", "padding counted on one side",
                                    "padding counted once instead of on both sides: n - k + 2p")),
    (Formulas(ignore_strides=True), add("q4.stride-ignored", "stride ignored",
                                        "stride ignored: the window moves by strides, floor((n - k + 2p) / s) + 1")),
    (Formulas(pool_stride_one=True), add("q4.pool-default-stride-one", "default pooling stride taken as 1",
                                         "wrong pooling stride: strides defaults to pool_size, not 1")),
    (Formulas(pool_strides_ignored=True), add("q4.pool-strides-ignored", "pooling strides argument ignored",
                                              "wrong pooling stride: the strides argument ignored, windows moved by pool_size")),
    (Formulas(conv_bias=False), add("q4.conv-no-bias", "Conv2D parameters without bias",
                                    "Conv2D parameter count without bias: one bias per filter, (k*k*c + 1) * f")),
    (Formulas(conv_channels=False), add("q4.conv-no-channels", "Conv2D parameters without input channels",
                                        "Conv2D input channels forgotten: each filter spans all c input channels, (k*k*c + 1) * f")),
    (Formulas(lc_shared=True), add("q4.lc-shared", "locally-connected counted with shared weights",
                                   "locally-connected counted with shared weights (that is Conv2D's count): "
                                   "LocallyConnected2D has its own kernel at every output position")),
    (Formulas(lc_bias="per filter"), add("q4.lc-bias-per-filter", "locally-connected bias once per filter",
                                         "locally-connected bias counted once per filter instead of once per output position and filter (oh*ow*f biases)")),
    (Formulas(lc_bias="none"), add("q4.lc-no-bias", "locally-connected parameters without bias",
                                   "locally-connected parameter count without bias: oh*ow*f biases")),
    (Formulas(lc_channels=False), add("q4.lc-no-channels", "locally-connected parameters without input channels",
                                      "locally-connected input channels forgotten: each kernel spans k*k*c inputs")),
    (Formulas(dense_bias=False), add("q4.dense-no-bias", "Dense parameters without bias",
                                     "Dense parameters as in_units*units without bias: (in_units + 1) * units")),
)
LAYER_NAME = add("q4.layer-name", "layer name not the contract's", "layer names must be exactly one of {names}")
TABLE_NOT_LIST = add("q4.table-not-list", "layer_table not a list of dicts", "layer_table must return a list of dicts")
TABLE_ROW_COUNT = add("q4.table-row-count", "wrong number of table rows", "one row per layer, Input and Flatten included")
ROW_KEY_MISSING = add("q4.row-key-missing", "table row missing a key", "each row needs the keys {keys}")
PARAMS_NOT_INT = add("q4.params-not-int", "params column not ints", "every row's params must be an int")


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
        return LAYER_NAME(names=", ".join(LAYER_NAMES))
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
