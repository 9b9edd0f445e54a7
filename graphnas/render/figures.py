"""Matplotlib figures drawn on the Agg canvas (no pyplot, so no global backend or figure state) and written
atomically in the format the file name asks for."""

from __future__ import annotations

import io
from pathlib import Path

from ..utils import atomic_write_bytes

__all__ = ["PLOT_FORMATS", "plot_format", "check_plot_target", "new_figure", "save_figure"]

PLOT_FORMATS = ("png", "svg", "pdf")


def plot_format(path: str | Path, what: str, error: type[Exception]) -> str:
    """The format of ``path`` from its suffix, or ``error`` naming ``what`` and the accepted suffixes."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in PLOT_FORMATS:
        raise error(f"cannot write {what} as {Path(path).name!r}: use a .png, .svg or .pdf file name")
    return fmt


def check_plot_target(path: str | Path, what: str, error: type[Exception]) -> Path:
    """Before the work a plot shows: ``path`` has a plot suffix (:func:`plot_format`) and can be written
    (:func:`graphnas.files.writable_file`: not a folder, not under a file, a name that is not too long)."""
    from ..files import writable_file

    plot_format(path, what, error)
    return writable_file(path, what)


def new_figure(width: float, height: float, dpi: int = 120):
    """A matplotlib ``Figure`` with its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, ax, path: str | Path, fmt: str, legend_loc: str | None = "best", *,
                legend_anchor: tuple[float, float] | None = None, grid: bool = True) -> Path:
    """Legend (and grid, unless ``grid=False``) on ``ax``, tight layout, then ``fig`` written to ``path``
    atomically; returns ``path``. ``legend_anchor`` (axes coordinates) places the legend's ``legend_loc``
    corner there, e.g. ``(1.02, 1)`` with ``"upper left"`` for a legend right of the axes; ``legend_loc=None``
    draws no legend."""
    if legend_loc is not None:
        ax.legend(loc=legend_loc, fontsize=8, bbox_to_anchor=legend_anchor)
    if grid:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt)
    return atomic_write_bytes(Path(path), buf.getvalue())
