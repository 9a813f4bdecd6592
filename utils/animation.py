"""Optimizer paths on a 2-D function as an SVG animation that plays in JupyterLab.

Pure SVG with SMIL `animateMotion`: no JavaScript, so nothing needs trusting or an
extension, and where animation is blocked the full paths still show as a static picture.
Markers move one optimizer step per frame, in step with each other.
"""
import html

import matplotlib
import matplotlib.pyplot as plt
import numpy as np


def _points(xy, to_svg):
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in map(to_svg, xy))


def animate_paths(f, paths, xlim, ylim, levels, seconds=8.0, width=560, height=320, title=""):
    """An IPython SVG of `paths` (label -> array of shape (steps + 1, 2)) over contours of `f`.

    `f` takes arrays X, Y and returns values; `levels` are the contour levels drawn. Paths
    are clipped to the box and shown for as many steps as the longest one has.
    """
    from IPython.display import SVG

    def to_svg(point):
        x = (point[0] - xlim[0]) / (xlim[1] - xlim[0]) * width
        y = (1 - (point[1] - ylim[0]) / (ylim[1] - ylim[0])) * height
        return min(max(x, -5), width + 5), min(max(y, -5), height + 5)

    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, 200), np.linspace(*ylim, 120))
    figure = plt.figure()
    contours = plt.contour(grid_x, grid_y, f(grid_x, grid_y), levels=levels)
    segments = [segment for level in contours.allsegs for segment in level if len(segment) > 1]
    plt.close(figure)

    steps = max(len(path) for path in paths.values()) - 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 24}" '
             f'viewBox="0 -24 {width} {height + 24}" font-family="sans-serif" font-size="11">',
             f'<text x="4" y="-8" font-size="12">{html.escape(title)}</text>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="white" stroke="#999"/>']
    parts += [f'<polyline points="{_points(segment, to_svg)}" fill="none" stroke="#ccc"/>' for segment in segments]
    colors = [matplotlib.colors.to_hex(c) for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
    for i, (label, path) in enumerate(paths.items()):
        color = colors[i % len(colors)]
        padded = np.vstack([path, np.repeat(path[-1:], steps + 1 - len(path), axis=0)])
        svg_points = [to_svg(p) for p in padded]
        lengths = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(np.array(svg_points), axis=0).T))])
        total = lengths[-1] or 1.0
        key_points = ";".join(f"{v:.4f}" for v in lengths / total)
        key_times = ";".join(f"{v:.4f}" for v in np.linspace(0, 1, steps + 1))
        x0, y0 = svg_points[0]   # the marker sits at the start; the motion path is relative to it
        motion = "M " + " L ".join(f"{x - x0:.1f},{y - y0:.1f}" for x, y in svg_points)
        parts.append(f'<polyline points="{_points(padded, to_svg)}" fill="none" stroke="{color}" '
                     f'stroke-opacity="0.35" stroke-width="1.5"/>')
        parts.append(f'<circle r="4" fill="{color}" cx="{x0:.1f}" cy="{y0:.1f}"><animateMotion dur="{seconds}s" '
                     f'repeatCount="indefinite" calcMode="linear" path="{motion}" keyPoints="{key_points}" '
                     f'keyTimes="{key_times}"/></circle>')
        parts.append(f'<text x="{width - 4}" y="{14 + 14 * i}" fill="{color}" text-anchor="end">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return SVG("".join(parts))
