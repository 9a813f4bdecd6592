"""Optimizer paths on a 2-D function as an animated PNG, which renders wherever a PNG does.

An animated PNG (APNG) is an ordinary `image/png` output: JupyterLab shows it in a notebook that is not
trusted (a fresh clone), and so do VS Code, Colab, GitHub's and nbviewer's previews; every current browser
plays it, and nbval never compares images. Markers move one optimizer step per frame, in step with each
other, over their full paths drawn faintly; a viewer that cannot animate shows the first frame. The
background is drawn once with Matplotlib, the markers of each frame over it in NumPy.
"""
import struct
import zlib

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

MAX_BYTES = 200_000   # one output: the notebooks' budget (tests/test_notebooks_clean.py keeps each under 1 MB)


class Animation:
    """An animated PNG shown by IPython as `image/png`, with a one-line text in place of an object repr."""

    def __init__(self, png, text):
        self.png, self.text = png, text

    def _repr_png_(self):
        return self.png

    def __repr__(self):
        return self.text


def _background(f, paths, xlim, ylim, levels, width, height, title):
    """The contours, the faint full paths and their legend, as an RGB image, and a function from data
    coordinates to its pixels."""
    from PIL import Image
    dpi = 100
    figure, ax = plt.subplots(figsize=(width / dpi, height / dpi), dpi=dpi)
    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 120))
    ax.contour(grid_x, grid_y, f(grid_x, grid_y), levels=levels, colors="0.8", linewidths=0.8, linestyles="solid")
    for i, (label, path) in enumerate(paths.items()):
        ax.plot(*np.asarray(path, dtype=float).T, color=f"C{i}", alpha=0.35, linewidth=1.2, label=label)
    ax.set(xlim=xlim, ylim=ylim)
    ax.grid(False)
    ax.set_title(title, fontsize=9, wrap=True)
    legend = ax.legend(fontsize=7, loc="upper right", handlelength=1.2)
    for i, text in enumerate(legend.get_texts()):
        text.set_color(f"C{i}")   # the markers' colour, not the faint paths'
    figure.tight_layout()
    figure.canvas.draw()
    image = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())).convert("RGB")
    box = ax.get_window_extent()
    transform = ax.transData.transform
    plt.close(figure)

    def to_pixels(points):
        x, y = transform(np.asarray(points, dtype=float)).T
        x = np.clip(np.nan_to_num(x, nan=box.x1), box.x0 - 4, box.x1 + 4)   # a diverging path stops at the edge
        y = np.clip(np.nan_to_num(y, nan=box.y1), box.y0 - 4, box.y1 + 4)
        return np.stack([x, image.height - y], axis=1)   # Pillow counts rows from the top

    return image, to_pixels


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rows(indices):
    """A PNG's compressed image data for rows of palette indices (filter type 0 on every row)."""
    rows = np.hstack([np.zeros((indices.shape[0], 1), np.uint8), indices.astype(np.uint8)])
    return zlib.compress(rows.tobytes(), 9)


def _apng(frames, palette, delays_ms):
    """An animated PNG of 2-D arrays of palette indices (index 0 is transparent and unused by frames).

    The first frame is also the image a viewer that cannot animate shows. Each later frame stores only
    the rectangle that changed, with its unchanged pixels transparent and blended over the previous one:
    markers moving over a fixed background then cost a few hundred bytes a frame.
    """
    height, width = frames[0].shape
    alpha = bytes([0]) + bytes([255] * (len(palette) - 1))
    parts = [b"\x89PNG\r\n\x1a\n",
             _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
             _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel())), _chunk(b"tRNS", alpha),
             _chunk(b"acTL", struct.pack(">II", len(frames), 0))]
    sequence = 0
    previous = None
    for frame, delay in zip(frames, delays_ms):
        if previous is None:
            x, y, region, blend = 0, 0, frame, 0            # the whole image, replacing what was there
        else:
            changed = frame != previous
            if not changed.any():
                changed[0, 0] = True                       # a frame must cover a pixel; it stays as it was
            rows, cols = np.nonzero(changed)
            y, x = rows.min(), cols.min()
            window = (slice(y, rows.max() + 1), slice(x, cols.max() + 1))
            region = np.where(changed[window], frame[window], 0)
            blend = 1                                      # drawn over the previous frame
        control = struct.pack(">IIIIIHHBB", sequence, region.shape[1], region.shape[0], int(x), int(y),
                              int(delay), 1000, 0, blend)
        parts.append(_chunk(b"fcTL", control))
        sequence += 1
        if previous is None:
            parts.append(_chunk(b"IDAT", _rows(region)))
        else:
            parts.append(_chunk(b"fdAT", struct.pack(">I", sequence) + _rows(region)))
            sequence += 1
        previous = frame
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


def _disk(radius):
    span = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    inside = dx ** 2 + dy ** 2 <= radius ** 2 + radius
    return dy[inside], dx[inside]


def animate_paths(f, paths, xlim, ylim, levels, seconds=8.0, width=640, height=360, title=""):
    """An animated PNG of `paths` (label -> array of shape (steps + 1, 2)) over contours of `f`.

    `f` takes arrays X, Y and returns values; `levels` are the contour levels drawn. Paths are clipped
    to the box and shown for as many steps as the longest one has; the animation lasts `seconds` and
    rests on its last frame before it starts again.
    """
    from PIL import Image
    background, to_pixels = _background(f, paths, xlim, ylim, levels, width, height, title)
    steps = max(len(path) for path in paths.values()) - 1
    colors = [matplotlib.colors.to_rgb(f"C{i}") for i in range(len(paths))]
    # Palette: 0 transparent, then the markers' colours and white exactly, then the background's.
    fixed = [(0, 0, 0)] + [tuple(round(255 * c) for c in color) for color in colors] + [(255, 255, 255)]
    quantized = background.quantize(colors=256 - len(fixed), dither=Image.Dither.NONE)
    raw = (quantized.getpalette() or []) + [0] * 768
    palette = fixed + [tuple(raw[3 * i:3 * i + 3]) for i in range(256 - len(fixed))]
    base = np.asarray(quantized, dtype=np.int32) + len(fixed)
    fill, ring = _disk(4), _disk(5)
    frames = []
    for step in range(steps + 1):
        frame = base.copy()
        for i, path in enumerate(paths.values()):
            x, y = np.round(to_pixels(path[min(step, len(path) - 1)][None])[0]).astype(int)
            for (dy, dx), index in ((ring, len(fixed) - 1), (fill, 1 + i)):
                frame[np.clip(y + dy, 0, height - 1), np.clip(x + dx, 0, width - 1)] = index
        frames.append(frame)
    per_frame = max(20, round(1000 * seconds / (steps + 1)))
    png = _apng(frames, palette, [per_frame] * steps + [max(per_frame, 1500)])
    return Animation(png, f"Animation, {steps} steps: {', '.join(paths)}")
