"""Small Sphinx helpers for the skfmnist documentation.

* Cross-references to names that skfmnist re-exports resolve to the page where
  they are documented: ``get_data_home`` written in a docstring of
  :func:`skfmnist.fetch_fashion_mnist` finds ``skfmnist.datasets.get_data_home``,
  and ``skfmnist.datasets.load_sample`` finds ``skfmnist.load_sample``.
* Methods inherited from scikit-learn (``score``, ``set_output``,
  ``set_fit_request``...) keep their docstrings, but their ``:ref:`` and
  ``:term:`` roles point into scikit-learn's own user guide and glossary; with
  no intersphinx inventory (the default, offline build) they become plain text
  instead of unresolvable references.
* In numpydoc type specifications such as ``ndarray of shape
  (n_features_in_,)``, a bare name ending in ``_`` would be read by docutils as
  a reference to a hyperlink target; it is quoted as literal text instead
  (scikit-learn writes ``(`n_features_in_`,)`` for the same reason).
* ``.. skfmnist-help:: [COMMAND]`` shows the ``--help`` text of the
  ``skfmnist`` command (or of one of its subcommands), taken from
  :func:`skfmnist.cli.build_parser` at build time, so the page never drifts
  from the code.
* The defaults of the estimators' parameters are substitutions,
  ``|DenseClassifier.epochs|`` and the like, read from the signatures at build
  time, so that the user guide cannot state an outdated default.
* A constant re-exported by a package (``skfmnist.CLASS_NAMES``) is shown with
  the ``#:`` comment that documents it in the module that defines it, instead
  of the docstring of its type (``tuple``).
"""

import os
import re
import sys

from docutils import nodes
from sphinx.pycode import ModuleAnalyzer, PycodeError
from sphinx.util.docutils import SphinxDirective

# :ref:`title <label>`, :ref:`label` and :term:`word` / :term:`title <word>`.
_REF_WITH_TITLE = re.compile(r":(?:ref|term):`([^`<]+?)\s*<[^`>]+>`")
_BARE_GALLERY_REF = re.compile(r":ref:`sphx_glr_\w*?(plot_\w+\.py)`")
_BARE_ROLE = re.compile(r":(?:ref|term):`([^`]+)`")

# A "name : type" line of a numpydoc section whose type holds "of shape (...)".
_SHAPE_LINE = re.compile(r"^\s*\w+ : .*\bof shape \(")
# A bare identifier ending in "_" (not already quoted) inside the shape.
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?=[,)\s])")

PUBLIC_MODULES = (
    "skfmnist",
    "skfmnist.datasets",
    "skfmnist.plotting",
    "skfmnist.report",
)


def _resolve_reexport(app, env, node, contnode):
    """Resolve a missing ``py`` reference to a documented skfmnist name."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if "." in target and not target.startswith("skfmnist."):
        return None
    name = target.rsplit(".", 1)[-1]
    domain = env.get_domain("py")
    for module in PUBLIC_MODULES:
        candidate = f"{module}.{name}"
        if candidate != target and candidate in domain.objects:
            return domain.resolve_xref(
                env,
                node["refdoc"],
                app.builder,
                node.get("reftype") or "obj",
                candidate,
                node,
                contnode,
            )
    return None


def _plain_sklearn_roles(app, what, name, obj, options, lines):
    """Turn scikit-learn's ``:ref:`` and ``:term:`` roles into plain text."""
    if "sphinx.ext.intersphinx" in app.extensions:
        return
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith("sklearn"):
        return
    for i, line in enumerate(lines):
        line = _REF_WITH_TITLE.sub(r"\1", line)
        line = _BARE_GALLERY_REF.sub(r"scikit-learn's example ``\1``", line)
        lines[i] = _BARE_ROLE.sub(r"\1", line)


def _quote_shape_names(app, what, name, obj, options, lines):
    """Quote ``n_features_in_``-like names in "of shape (...)" type specs."""
    for i, line in enumerate(lines):
        if _SHAPE_LINE.match(line):
            head, shape = line.split(" of shape ", 1)
            lines[i] = head + " of shape " + _TRAILING_UNDERSCORE.sub(
                r"``\1``", shape
            )


def _constant_doc_comment(app, what, name, obj, options, lines):
    """Document a re-exported constant with its ``#:`` comment."""
    if what != "data" or obj.__doc__ != type(obj).__doc__:
        return
    attr = name.rsplit(".", 1)[-1]
    for modname in sorted(sys.modules):
        module = sys.modules[modname]
        if not modname.startswith("skfmnist") or getattr(module, attr, None) is not obj:
            continue
        try:
            attr_docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
            comment = attr_docs.get(("", attr))
        except PycodeError:
            continue
        if comment:
            lines[:] = list(comment)
            return
    lines[:] = []  # better nothing than the docstring of tuple or str


def _help_text(command=None, width=80):
    """The ``--help`` text of ``skfmnist`` or of ``skfmnist COMMAND``."""
    import argparse

    from skfmnist.cli import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)  # argparse wraps to the terminal width
    try:
        parser = build_parser()
        if command is not None:
            subparsers = [
                action
                for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)
            ]
            choices = subparsers[0].choices if subparsers else {}
            if command not in choices:
                raise ValueError(
                    f"skfmnist has no command {command!r}; it has {sorted(choices)}"
                )
            parser = choices[command]
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class SkfmnistHelp(SphinxDirective):
    """Literal block with the help of the ``skfmnist`` command."""

    optional_arguments = 1

    def run(self):
        command = self.arguments[0] if self.arguments else None
        prompt = "skfmnist" + (f" {command}" if command else "") + " --help"
        try:
            text = _help_text(command)
        except Exception as exc:  # report, do not crash the build
            raise self.error(f"cannot format `{prompt}`: {exc}") from exc
        block = nodes.literal_block(text, f"$ {prompt}\n{text}")
        block["language"] = "text"
        return [block]


# Callables whose parameter defaults become |Name.parameter| substitutions.
DEFAULTS_OF = ("ConvClassifier", "DenseClassifier", "PixelScaler", "find_learning_rate")


def _literal(value):
    """A default value as reST literal text, strings in double quotes."""
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return f"``{text}``"


def _add_default_substitutions(app, config):
    """Add a ``|Name.param|`` substitution per default value to ``rst_epilog``."""
    import inspect

    import skfmnist

    lines = []
    for name in DEFAULTS_OF:
        signature = inspect.signature(getattr(skfmnist, name))
        for param in signature.parameters.values():
            if param.default is not inspect.Parameter.empty:
                lines.append(
                    f".. |{name}.{param.name}| replace:: {_literal(param.default)}"
                )
    config.rst_epilog = (config.rst_epilog or "") + "\n" + "\n".join(lines) + "\n"


def setup(app):
    app.add_directive("skfmnist-help", SkfmnistHelp)
    app.connect("config-inited", _add_default_substitutions)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-process-docstring", _plain_sklearn_roles, priority=100)
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", _quote_shape_names, priority=100)
    app.connect("autodoc-process-docstring", _constant_doc_comment, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
