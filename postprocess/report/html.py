"""The report as blocks, rendered to markdown and to one self-contained HTML file.

Blocks: ``("h", level, text)``, ``("p", text)``, ``("table", header, rows)``,
``("fig", path, caption)``, ``("pre", text)``.  The markdown links the PNGs (relative to
the report folder); the HTML embeds them as base64 so the one file is the whole report.
Marks of observations are coloured in HTML (agree green, disagree red, fitted amber, not
computed grey).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

Block = tuple[Any, ...]

MARK_STYLE = {"agree": "#d7f5d7", "disagree": "#f9c9c9", "fitted": "#fbe7b5",
              "not computed": "#e4e4e4"}
CSS = """body{font-family:sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.85em}
td,th{border:1px solid #bbb;padding:3px 6px;vertical-align:top}th{background:#eee}
img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}
figcaption{font-size:0.85em;color:#444}pre{background:#f6f6f6;padding:0.6em;overflow:auto}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:0.6em}"""


def _md_cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block], root: Path) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "pre":
            out += ["```", b[1], "```", ""]
        elif kind == "table":
            header, rows = b[1], b[2]
            out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("")
        elif kind == "fig":
            rel = Path(b[1]).resolve().relative_to(root.resolve())
            out += [f"![{b[2]}]({rel.as_posix()})", "", f"*{b[2]}*", ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escape, then `code` spans and **bold**."""
    import re

    s = html.escape(text)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", s)


def to_html(blocks: list[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            cls = " class='banner'" if b[1].startswith("**QUICK") else ""
            out.append(f"<p{cls}>{_inline(b[1])}</p>")
        elif kind == "pre":
            out.append(f"<pre>{html.escape(b[1])}</pre>")
        elif kind == "table":
            header, rows = b[1], b[2]
            out.append("<table><tr>" + "".join(f"<th>{_inline(str(h))}</th>" for h in header)
                       + "</tr>")
            for r in rows:
                cells = []
                for c in r:
                    style = MARK_STYLE.get(str(c))
                    attr = f" style='background:{style}'" if style else ""
                    cells.append(f"<td{attr}>{_inline(str(c))}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
        elif kind == "fig":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode()
            out.append(f"<figure><img alt='{html.escape(b[2])}' "
                       f"src='data:image/png;base64,{data}'><figcaption>{_inline(b[2])}"
                       "</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
