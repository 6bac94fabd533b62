"""Fast float32 2-D filtering in pure NumPy, with the semantics of `conv.filter2d`.

Per-channel cross-correlation, zero padding, centred anchor, same output shape, but in
float32. Channels need no loop: an (H, W, C) image is a flat buffer of rows of W*C values,
where a shift of one pixel is a shift of C values. The image is filtered one cache-sized
tile of rows at a time into preallocated buffers, each pass in one of two ways:
- grouped ufunc calls: every tap is a 1-D contiguous slice of the flat buffer (NumPy
  runs these several times faster than 2-D strided views), taps whose weights share a
  magnitude are added or subtracted before a single multiply;
- one einsum over a strided window, which NumPy runs as a multiply-add per tap along
  each row, about the cost of a single ufunc pass per tap.
A small cost model picks the cheaper per kernel. Rank-1 kernels (box blur, Sobel,
Gaussian) run as a vertical then a horizontal 1-D pass.

Interior rows read the image directly; a flat shift there wraps around row ends, so the
outermost columns and rows are recomputed from small zero-padded copies of the borders.
"""
import functools
import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from graders.oracles.conv import check_filter2d_args

# Elements per row tile; measured on a 2-core EPYC (see benchmarks/README.md).
TILE_ELEMENTS = 1 << 18
# Below this many values, zero-padding the whole image costs less than fixing its borders.
DIRECT_MIN_ELEMENTS = 1 << 18
RANK_ONE_RTOL = 1e-6
# Cost of one einsum multiply-add tap relative to one whole-tile ufunc pass (measured).
EINSUM_TAP_PASSES = 1.1


def filter2d_fast(image, kernel):
    """float32 per-channel 2-D cross-correlation of (H, W[, C]) with an odd-sized 2-D kernel."""
    image, kernel = np.asarray(image), np.asarray(kernel)
    check_filter2d_args(image, kernel)
    source = np.ascontiguousarray(image, dtype=np.float32)
    height, width = source.shape[:2]
    channels = source.shape[2] if source.ndim == 3 else 1
    rows = source.reshape(height, width * channels)
    out = np.empty_like(rows)
    taps = _plan(kernel.astype(np.float64).tobytes(), kernel.shape, channels)
    half_h, half_w = kernel.shape[0] // 2, kernel.shape[1] // 2
    if rows.size >= DIRECT_MIN_ELEMENTS and height >= 2 * half_h + 3 and width >= 2 * half_w + 1:
        _filter_interior(rows, out, taps)
        _refilter_borders(rows, out, taps)
    else:
        _filter_padded(rows, out, taps)
    return out.reshape(image.shape)


def rank_one_factors(kernel):
    """(column, row) with outer(column, row) == kernel when the kernel is rank 1, else None.

    The row is scaled so its largest magnitude is 1, which keeps unit weights (Sobel's
    -1, 0, 1; the box filter's ones) free of multiplies in the horizontal pass.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    peak = np.abs(kernel).max()
    if peak == 0:
        return None
    pivot_row, pivot_col = np.unravel_index(np.abs(kernel).argmax(), kernel.shape)
    row = kernel[pivot_row] / np.abs(kernel[pivot_row]).max()
    column = kernel[:, pivot_col] / row[pivot_col]
    if np.abs(np.outer(column, row) - kernel).max() > RANK_ONE_RTOL * peak:
        return None
    return column, row


@functools.lru_cache(maxsize=64)
def _plan(kernel_bytes, shape, channels):
    """Plans are pure functions of the kernel, so repeated calls skip the factorisation."""
    return TilePlan(np.frombuffer(kernel_bytes, dtype=np.float64).reshape(shape), channels)


_workspace = threading.local()


def _buffer(name, size):
    """A reusable float32 array of at least size values for this thread; contents are stale.

    Fresh multi-megabyte arrays on every call cost page faults that, for small images,
    took longer than the filtering itself.
    """
    buffers = _workspace.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.size < size:
        buffer = buffers[name] = np.zeros(size, dtype=np.float32)
    return buffer[:size]


class TilePlan:
    """The taps of one kernel, applied to a tile of rows of any flat layout.

    A layout is a flat float32 source whose rows are `stride` values apart; `base` is the
    flat index of the input under the kernel's top-left tap for the tile's first output.
    The output of `count` rows is written to a flat target in the same layout: row r at
    r * stride, its first `width` values valid. Each 1-D pass runs either as grouped
    whole-tile ufunc calls or as one einsum (a fused multiply-add per tap, row by row),
    whichever the pass-count model below says is cheaper.
    """

    def __init__(self, kernel, channels):
        self.kernel = np.asarray(kernel, dtype=np.float32)
        self.channels = channels
        factors = rank_one_factors(kernel)
        self.factors = None if factors is None else tuple(f.astype(np.float32) for f in factors)
        kh, kw = self.kernel.shape
        if self.factors is None:
            # With one channel a horizontal tap shifts by one value, like the row axis itself,
            # and einsum would loop over taps innermost; so it runs per kernel column instead.
            extra = kw - 1 if channels == 1 else 0
            self.dense_einsum = kh * kw * EINSUM_TAP_PASSES + extra < grouped_pass_count(self.kernel.ravel())
        else:
            column, row = self.factors
            self.vertical_einsum = kh * EINSUM_TAP_PASSES < grouped_pass_count(column)
            self.horizontal_einsum = channels > 1 and kw * EINSUM_TAP_PASSES < grouped_pass_count(row)

    @staticmethod
    def _rows(flat, stride, count, width):
        """The (count, width) valid part of a flat buffer in a layout of the given stride."""
        return flat[:count * stride].reshape(count, stride)[:, :width]

    @staticmethod
    def _window(source, base, shape, strides):
        """A read-only strided view of source, in elements, refused if it would leave source."""
        last = base + sum((n - 1) * s for n, s in zip(shape, strides))
        if base < 0 or last >= source.size:
            raise IndexError(f"window {shape} at {base} reads outside a buffer of {source.size}")
        itemsize = source.itemsize
        return as_strided(source[base:], shape, tuple(s * itemsize for s in strides), writeable=False)

    def apply(self, source, base, stride, target, count, width):
        """Write the filter's output for count rows of width values starting at base into target."""
        if self.factors is not None:
            self._separable(source, base, stride, target, count, width)
        elif self.dense_einsum:
            self._dense_einsum(source, base, stride, target, count, width)
        else:
            kh, kw = self.kernel.shape
            size, step = count * stride, self.channels
            taps = [
                (self.kernel[i, j], source[base + i * stride + j * step:][:size])
                for i in range(kh)
                for j in range(kw)
            ]
            accumulate_taps(target[:size], _buffer("scratch", size), taps)

    def _dense_einsum(self, source, base, stride, target, count, width):
        kh, kw = self.kernel.shape
        step, size = self.channels, count * stride
        if step > 1:
            window = self._window(source, base, (count, kh, kw, width), (stride, stride, step, 1))
            np.einsum("ij,rijw->rw", self.kernel, window, out=self._rows(target, stride, count, width))
            return
        scratch = _buffer("scratch", size)
        for j in range(kw):
            window = self._window(source, base + j, (count, kh, width), (stride, stride, 1))
            partial = target if j == 0 else scratch
            np.einsum("i,riw->rw", self.kernel[:, j], window, out=self._rows(partial, stride, count, width))
            if j:
                np.add(target[:size], scratch, out=target[:size])

    def _separable(self, source, base, stride, target, count, width):
        column, row = self.factors
        kh, kw = len(column), len(row)
        step, size = self.channels, count * stride
        # The vertical result also covers the kw - 1 pixels the horizontal pass reads past
        # the last row; only padding or wrapped (recomputed) outputs read them.
        vertical = _buffer("vertical", size + (kw - 1) * step)
        if self.vertical_einsum:
            window = self._window(source, base, (count, kh, stride), (stride, stride, 1))
            np.einsum("i,riw->rw", column, window, out=vertical[:size].reshape(count, stride))
            tail = self._window(source, base + size, (kh, vertical.size - size), (stride, 1))
            np.einsum("i,iw->w", column, tail, out=vertical[size:])
        else:
            taps = [(weight, source[base + i * stride:][:vertical.size]) for i, weight in enumerate(column)]
            accumulate_taps(vertical, _buffer("scratch", vertical.size), taps)
        if self.horizontal_einsum:
            window = self._window(vertical, 0, (count, kw, width), (stride, step, 1))
            np.einsum("j,rjw->rw", row, window, out=self._rows(target, stride, count, width))
        else:
            taps = [(weight, vertical[j * step:][:size]) for j, weight in enumerate(row)]
            accumulate_taps(target[:size], _buffer("scratch", size), taps)


def _tile_rows(height, row_length):
    return max(1, min(height, TILE_ELEMENTS // row_length))


def _filter_interior(rows, out, taps):
    """Rows half_h + 1 .. height - half_h - 2, read in place; the outer columns come out wrong.

    Starting one row further in keeps every wrapped read inside the image.
    """
    height, row_length = rows.shape
    half_h, half_w = (k // 2 for k in taps.kernel.shape)
    source, target = rows.reshape(-1), out.reshape(-1)
    first, stop = half_h + 1, height - half_h - 1
    tile = _tile_rows(stop - first, row_length)
    for start in range(first, stop, tile):
        count = min(tile, stop - start)
        base = (start - half_h) * row_length - half_w * taps.channels
        taps.apply(source, base, row_length, target[start * row_length:], count, row_length)


def _refilter_borders(rows, out, taps):
    """Recompute the rows and columns that _filter_interior skips or wraps, from padded copies."""
    height, row_length = rows.shape
    channels = taps.channels
    half_h, half_w = (k // 2 for k in taps.kernel.shape)
    edge = half_h + 1
    # Top and bottom bands stacked: neither reaches the other's outputs through the kernel.
    bands = np.concatenate([rows[:2 * half_h + 1], rows[height - 2 * half_h - 1:]])
    filtered = np.empty_like(bands)
    _filter_padded(bands, filtered, taps)
    out[:edge], out[height - edge:] = filtered[:edge], filtered[-edge:]
    if half_w == 0:
        return
    width = row_length // channels
    pixels, out_pixels = rows.reshape(height, width, channels), out.reshape(height, width, channels)
    sides = np.concatenate([pixels[:, :2 * half_w], pixels[:, width - 2 * half_w:]], axis=1)
    filtered = np.empty_like(sides)
    _filter_padded(sides.reshape(height, -1), filtered.reshape(height, -1), taps)
    out_pixels[:, :half_w], out_pixels[:, width - half_w:] = filtered[:, :half_w], filtered[:, -half_w:]


def _filter_padded(rows, out, taps):
    """Every tile copied into a zero-bordered flat buffer first: right for any image size."""
    height, row_length = rows.shape
    kh, kw = taps.kernel.shape
    stride = row_length + (kw - 1) * taps.channels
    tile = _tile_rows(height, stride)
    # Rows are laid out at a padded stride; the right padding doubles as the next row's left.
    padded = _buffer("padded", (tile + kh) * stride)
    result = _buffer("result", tile * stride)
    left = (kw // 2) * taps.channels
    for start in range(0, height, tile):
        count = min(tile, height - start)
        _fill_band(padded, stride, rows, start - kh // 2, count + kh - 1, left)
        taps.apply(padded, 0, stride, result, count, row_length)
        out[start:start + count] = result[:count * stride].reshape(count, stride)[:, :row_length]


def _fill_band(padded, stride, rows, first, count, left):
    """Copy image rows first .. first + count - 1 into the padded layout, zeros around them."""
    height, row_length = rows.shape
    layout_rows = padded[:count * stride].reshape(count, stride)
    # The buffer is reused across calls and layouts, so the padding is rewritten each time.
    layout_rows[:, :left] = 0
    layout_rows[:, left + row_length:] = 0
    band = layout_rows[:, left:left + row_length]
    top, bottom = max(first, 0), min(first + count, height)
    band[:top - first] = 0
    band[top - first:bottom - first] = rows[top:bottom]
    band[bottom - first:] = 0


def accumulate_taps(target, scratch, taps):
    """target = sum(weight * view for weight, view in taps), in place, with few passes.

    Taps are grouped by |weight|: each group is summed with signs and multiplied once;
    unit-weight taps are added straight into target. scratch has target's shape and
    must not overlap it or any view.
    """
    groups = {}
    for weight, view in taps:
        if weight != 0:
            positive, negative = groups.setdefault(abs(weight), ([], []))
            (positive if weight > 0 else negative).append(view)
    if not groups:
        target[...] = 0
        return
    written = False
    # Non-unit groups first: they initialise target with a multiply, so that the unit
    # group can then be added into it with no copy.
    for magnitude in sorted(groups, key=lambda m: m == 1):
        positive, negative = groups[magnitude]
        if magnitude == 1:
            _add_signed(target, positive, negative, written)
            written = True
            continue
        weight = magnitude
        if not positive:
            positive, negative, weight = negative, positive, -magnitude
        if len(positive) + len(negative) == 1:
            summed = positive[0]
        else:
            _add_signed(scratch, positive, negative, written=False)
            summed = scratch
        if written:
            np.multiply(summed, weight, out=scratch)
            np.add(target, scratch, out=target)
        else:
            np.multiply(summed, weight, out=target)
            written = True


def _add_signed(target, positive, negative, written):
    """target (+)= sum(positive) - sum(negative); overwrite target when not yet written."""
    terms = [(np.add, view) for view in positive] + [(np.subtract, view) for view in negative]
    if not written:
        (_, first), rest = terms[0], terms[1:]
        if positive and rest:
            rest[0][0](first, rest[0][1], out=target)
            rest = rest[1:]
        elif positive:
            np.copyto(target, first)
        else:
            np.negative(first, out=target)
    else:
        rest = terms
    for operation, view in rest:
        operation(target, view, out=target)


def grouped_pass_count(weights):
    """How many whole-tile ufunc calls accumulate_taps makes for these weights."""
    sizes = {}
    for weight in np.asarray(weights).ravel():
        if weight != 0:
            sizes[abs(weight)] = sizes.get(abs(weight), 0) + 1
    passes, written = 0, False
    for magnitude in sorted(sizes, key=lambda m: m == 1):
        taps = sizes[magnitude]
        if magnitude == 1:
            passes += taps if written else max(taps - 1, 1)
        else:
            passes += (taps - 1) + 1 + written  # sum the group, multiply, add to target
        written = True
    return max(passes, 1)
