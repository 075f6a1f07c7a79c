"""Render ``:math:`` as plain HTML, so that the pages need no network access.

Sphinx's default, MathJax, loads a script from a CDN in the reader's browser;
offline, the formulas stay raw LaTeX. The documentation's formulas are simple
(powers, products, ranges), so they are turned into HTML text with ``<sup>``
and ``<sub>`` at build time instead. A LaTeX command this module does not know
is a build warning (an error under ``-W``), never silently wrong output.

Enabled in ``conf.py`` with ``html_math_renderer = "plain"``.
"""

import html
import re

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

# LaTeX commands and the text that replaces them.
SYMBOLS = {
    "cdot": "\u00b7",
    "times": "\u00d7",
    "dots": "\u2026",
    "ldots": "\u2026",
    "cdots": "\u22ef",
    "le": "\u2264",
    "leq": "\u2264",
    "ge": "\u2265",
    "geq": "\u2265",
    "approx": "\u2248",
    "ne": "\u2260",
    "to": "\u2192",
    "infty": "\u221e",
    "alpha": "\u03b1",
    "beta": "\u03b2",
    "eta": "\u03b7",
    "lambda": "\u03bb",
    "log": "log",
    "exp": "exp",
    ",": "\u2009",
    " ": " ",
    "{": "{",
    "}": "}",
    "%": "%",
}
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")


class UnknownLatex(ValueError):
    """A LaTeX construct the plain renderer cannot write as HTML."""


def _group(text, start):
    """The braced group (or single character) at ``start``, and the end index."""
    if start >= len(text):
        raise UnknownLatex("a ^ or _ with nothing after it")
    if text[start] != "{":
        return text[start], start + 1
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i], i + 1
    raise UnknownLatex(f"unbalanced braces in {text!r}")


def latex_to_html(latex):
    """Turn a simple LaTeX formula into HTML text.

    >>> latex_to_html(r"10^{-3} \\cdot 10^{e/20}")
    '10<sup>\u22123</sup> \u00b7 10<sup>e/20</sup>'
    """
    out, i = [], 0
    while i < len(latex):
        char = latex[i]
        if char in "^_":
            inner, i = _group(latex, i + 1)
            tag = "sup" if char == "^" else "sub"
            out.append(f"<{tag}>{latex_to_html(inner)}</{tag}>")
        elif char == "\\":
            match = _COMMAND.match(latex, i)
            name = match.group(1) if match else ""
            if name == "frac":
                numerator, i = _group(latex, match.end())
                denominator, i = _group(latex, i)
                out.append(
                    f"{latex_to_html(numerator)}/{latex_to_html(denominator)}"
                )
                continue
            if name not in SYMBOLS:
                raise UnknownLatex(f"unknown command \\{name}")
            out.append(html.escape(SYMBOLS[name]))
            i = match.end()
        elif char in "{}":
            i += 1  # plain grouping braces
        elif char == "-":
            out.append("\u2212")  # a minus sign, not a hyphen
            i += 1
        else:
            out.append(html.escape(char))
            i += 1
    return "".join(out)


def _render(self, node):
    try:
        return latex_to_html(node.astext())
    except UnknownLatex as exc:
        logger.warning(
            "cannot render math %r as plain HTML: %s; extend docs/_ext/"
            "plain_math.py or rewrite the formula",
            node.astext(),
            exc,
            location=node,
        )
        return html.escape(node.astext())


def visit_math(self, node):
    self.body.append(f'<span class="math">{_render(self, node)}</span>')
    raise nodes.SkipNode


def visit_math_block(self, node):
    self.body.append(
        f'<div class="math-block"><p>{_render(self, node)}</p></div>\n'
    )
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("plain", (visit_math, None), (visit_math_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
