"""Self-contained HTML pages: every picture inlined as a ``data:`` URI, every text escaped, no network.

The pieces :mod:`graphnas.jobs.html_report` assembles a run's page from. Pictures go in ``<img>`` elements
(an SVG in an image cannot run script or reach the network, whatever file it came from); a short inline
script marks a picture that failed to load, and records on ``<html>`` how many loaded
(``data-images="loaded/total"``), which is what the rendering test reads.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

__all__ = ["esc", "image", "figure_image", "table", "section", "page", "MAX_PICTURE_BYTES"]

#: A picture larger than this is left out of a page (with a note) rather than inlined.
MAX_PICTURE_BYTES = 16 << 20
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def esc(value) -> str:
    """``value`` as HTML text (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def _img(data: bytes, mime: str, alt: str, width: str | None) -> str:
    style = f' style="max-width:{width}"' if width else ""
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<img src="{uri}" alt="{esc(alt)}"{style}>'


def image(path, alt: str, width: str | None = None) -> str:
    """An ``<img>`` of the picture file ``path`` (PNG, SVG, JPEG), or a note saying why it is not shown."""
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        return f'<p class="note">{esc(alt)}: {esc(path.name)} is not a PNG, SVG or JPEG picture</p>'
    try:
        if not path.is_file():
            return f'<p class="note">{esc(alt)}: {esc(path.name)} is missing</p>'
        size = path.stat().st_size
        if size > MAX_PICTURE_BYTES:
            return f'<p class="note">{esc(alt)}: {esc(path.name)} is {size} bytes, too large to inline</p>'
        data = path.read_bytes()
    except OSError as err:
        return f'<p class="note">{esc(alt)}: {esc(path.name)} cannot be read ({esc(type(err).__name__)})</p>'
    return _img(data, mime, alt, width)


def figure_image(fig, alt: str, width: str | None = None) -> str:
    """An ``<img>`` of a matplotlib figure (PNG)."""
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return _img(buf.getvalue(), "image/png", alt, width)


def table(header: list[str] | None, rows: list[list], cls: str = "") -> str:
    """A ``<table>`` (``header=None``: none; a key-value table); cells are escaped, shown as given (format
    numbers first)."""
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>"
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{esc(cls)}">{head}<tbody>{body}</tbody></table>'


def section(title: str, *parts: str, anchor: str | None = None) -> str:
    """A ``<section>`` with a heading and the given (already built) HTML parts."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def details(summary: str, obj) -> str:
    """A collapsed block with ``obj`` as indented JSON."""
    text = json.dumps(obj, indent=2, default=str)
    return f"<details><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details>"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5em;color:#1d1d1f;background:#fff}h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;
border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:left}th{background:#f4f4f6}td{font-variant-numeric:tabular-nums}img{max-width:100%;height:auto;
display:block;margin:.6em 0;border:1px solid #eee}.note{color:#8a5a00}.bad{color:#b00020;font-weight:600}
pre{background:#f7f7f9;padding:.8em;overflow:auto;font-size:.85em}nav a{margin-right:1em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1em}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; continue; }
    var p = document.createElement('p'); p.className = 'bad';
    p.textContent = 'picture failed to load: ' + imgs[i].alt; imgs[i].after(p);
  }
  document.documentElement.setAttribute('data-images', ok + '/' + imgs.length);
});
"""


def page(title: str, subtitle: str, body: list[str], nav: list[tuple[str, str]] = ()) -> str:
    """The whole page: ``<!doctype html>``, style, the sections, the load-check script."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
            f'<body><h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>'
            + (f"<nav>{links}</nav>" if links else "") + "\n" + "\n".join(body)
            + f"\n<script>{_SCRIPT}</script></body></html>\n")
