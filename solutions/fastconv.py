"""Fast float32 2-D filtering in pure NumPy, with the semantics of `conv.filter2d`.

Per-channel cross-correlation, zero padding, centred anchor, same output shape, but in
float32. Channels need no loop: an (H, W, C) image is a flat buffer of rows of W*C values,
where a shift of one pixel is a shift of C values. Every kernel tap is then a 1-D
contiguous slice of that buffer, which NumPy processes several times faster than 2-D
strided views, accumulated in place into preallocated buffers, one cache-sized tile of
rows at a time. Taps whose weights have the same magnitude are summed before a single
multiply, and rank-1 kernels (box blur, Sobel, Gaussian) run as a vertical then a
horizontal 1-D pass.

Interior rows read the image directly; a flat shift there wraps around row ends, so the
outermost columns and rows are recomputed from small zero-padded copies of the borders.
"""
import numpy as np

from solutions.conv import check_filter2d_args

# Elements per row tile; measured on a 2-core EPYC (see benchmarks/README.md).
TILE_ELEMENTS = 1 << 16
# Below this many values, zero-padding the whole image costs less than fixing its borders.
DIRECT_MIN_ELEMENTS = 1 << 18
RANK_ONE_RTOL = 1e-6


def filter2d_fast(image, kernel):
    """float32 per-channel 2-D cross-correlation of (H, W[, C]) with an odd-sized 2-D kernel."""
    image, kernel = np.asarray(image), np.asarray(kernel)
    check_filter2d_args(image, kernel)
    source = np.ascontiguousarray(image, dtype=np.float32)
    height, width = source.shape[:2]
    channels = source.shape[2] if source.ndim == 3 else 1
    rows = source.reshape(height, width * channels)
    out = np.empty_like(rows)
    taps = TilePlan(kernel, channels)
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


class TilePlan:
    """The taps of one kernel, applied to a tile of any flat row layout.

    A layout is a flat float32 source with a row stride; `base` is the flat index of the
    input value under the kernel's top-left tap for the tile's first output value.
    """

    def __init__(self, kernel, channels):
        self.kernel = np.asarray(kernel, dtype=np.float32)
        self.channels = channels
        factors = rank_one_factors(kernel)
        self.factors = None if factors is None else tuple(f.astype(np.float32) for f in factors)
        self._buffers = {}

    def _buffer(self, name, size):
        """A reusable scratch array of at least size values."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.zeros(size, dtype=np.float32)
        return buffer[:size]

    def apply(self, source, base, stride, target):
        """target = the filter's output for target.size values starting at base."""
        size, step = target.size, self.channels
        if self.factors is None:
            kh, kw = self.kernel.shape
            taps = [
                (self.kernel[i, j], source[base + i * stride + j * step:][:size])
                for i in range(kh)
                for j in range(kw)
            ]
            accumulate_taps(target, self._buffer("scratch", size), taps)
            return
        column, row = self.factors
        # The vertical pass also covers the kw - 1 pixels the horizontal pass reads past the end.
        extended = size + (len(row) - 1) * step
        vertical = self._buffer("vertical", extended)
        accumulate_taps(
            vertical, self._buffer("scratch", extended),
            [(weight, source[base + i * stride:][:extended]) for i, weight in enumerate(column)],
        )
        accumulate_taps(
            target, self._buffer("scratch", size),
            [(weight, vertical[j * step:][:size]) for j, weight in enumerate(row)],
        )


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
        taps.apply(source, base, row_length, target[start * row_length:(start + count) * row_length])


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
    padded = np.zeros((tile + kh) * stride, dtype=np.float32)
    result = np.empty(tile * stride, dtype=np.float32)
    left = (kw // 2) * taps.channels
    for start in range(0, height, tile):
        count = min(tile, height - start)
        _fill_band(padded, stride, rows, start - kh // 2, count + kh - 1, left)
        taps.apply(padded, 0, stride, result[:count * stride])
        out[start:start + count] = result[:count * stride].reshape(count, stride)[:, :row_length]


def _fill_band(padded, stride, rows, first, count, left):
    """Copy image rows first .. first + count - 1 into the padded layout; rows off the image are 0."""
    height, row_length = rows.shape
    band = padded[:count * stride].reshape(count, stride)[:, left:left + row_length]
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
