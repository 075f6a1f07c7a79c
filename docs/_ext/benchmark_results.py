"""Benchmark figures in the documentation, drawn from the results files.

The benchmark scripts write every run to ``benchmarks/results/<name>.json``
(``benchmarks/_common.py``, ``write_results``): the tables they print, their
targets, and the conditions of the run (date, command, CPU, library versions,
threads). Two directives put those files into the performance page at build
time, so every figure it shows is a measured one and says where it came from:

``.. benchmark-results:: NAME``
    The conditions of ``NAME.json`` and the tables it holds (``:tables:``
    selects some, by number from 1).
``.. benchmark-targets::``
    One table of the targets of every results file, each with its source.

A full run's file is used; without one, a ``--quick`` smoke run's file is
shown under a warning (those are not committed); without either, the page
says what to run. None of this is a build warning: a fresh checkout builds.
"""

import json
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
# Order of the results files in the targets table; others follow by name.
ORDER = ("fit_epoch", "predict", "fit_default", "fit_grid", "conv_default",
         "conv_epoch", "conv_predict", "soak", "search", "persist", "serve")
# The script that writes each results file, for the "not measured yet" note.
SCRIPTS = {
    "fit_epoch": "bench_fit.py --only epoch",
    "fit_default": "bench_fit.py --only default",
    "fit_grid": "bench_fit.py --only grid",
    "predict": "bench_predict.py",
    "conv_default": "bench_conv.py --only default",
    "conv_epoch": "bench_conv.py --only epoch",
    "conv_predict": "bench_conv.py --only predict",
    "soak": "bench_soak.py",
    "search": "bench_search.py",
    "persist": "bench_persist.py",
    "serve": "bench_serve.py",
}
LIBRARIES = ("python", "tensorflow", "keras", "scikit-learn", "numpy", "skfmnist")


def load(name):
    """``(path, payload)`` of the full run of ``name``, else its quick run."""
    for suffix in (".json", ".quick.json"):
        path = RESULTS / f"{name}{suffix}"
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                return path, json.load(f)
    return None, None


def _paragraph(*parts):
    """A paragraph of text parts; ``("code", text)`` parts are literal.

    Command lines go in literals so that Sphinx's smart quotes leave their
    ``--options`` alone.
    """
    para = nodes.paragraph()
    for part in parts:
        if isinstance(part, tuple):
            para += nodes.literal(part[1], part[1])
        else:
            para += nodes.Text(part)
    return para


def conditions(path, payload):
    """One paragraph: which file, which run, where, with which libraries."""
    machine = payload.get("machine", {})
    versions = payload.get("versions", {})
    threads = payload.get("threads", {})
    load_avg = machine.get("load_average_at_start")
    text = (
        f", {payload.get('date', '?')}): {machine.get('cpu_model', '?')}, "
        f"{machine.get('usable_cpus', machine.get('cpu_count', '?'))} CPUs"
        + (f", load average {load_avg[0]:.2f} at start" if load_avg else "")
        + "; "
        + ", ".join(f"{k} {versions[k]}" for k in LIBRARIES if k in versions)
        + "; threads of the main process: "
        + "; ".join(f"{k} {v}" for k, v in threads.items())
    )
    total = payload.get("results", {}).get("total_s")
    if total is not None:
        text += f"; the run took {total:.0f} s."
    return _paragraph(
        "From ", ("code", f"benchmarks/results/{path.name}"),
        f" ({payload.get('mode', '?')} run of ", ("code", payload.get("command", "?")),
        text,
    )


def table(columns, rows, title=None):
    """A docutils table of strings, the first column a row header."""
    node = nodes.table(classes=["benchmark-table"])
    if title:
        node += nodes.title(title, title)
    group = nodes.tgroup(cols=len(columns))
    node += group
    for _ in columns:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    body = nodes.tbody()
    group += body
    for section, cells in ((head, [columns]), (body, rows)):
        for cells_of_row in cells:
            row = nodes.row()
            for cell in cells_of_row:
                entry = nodes.entry()
                entry += nodes.paragraph(text=str(cell))
                row += entry
            section += row
    return node


def _quick_warning(path):
    warning = nodes.warning()
    warning += _paragraph(
        "Only a ", ("code", "--quick"), " smoke run was found (",
        ("code", path.name), "): subsets, fewer epochs and repeats. Its figures "
        "only show that the benchmark works; a full run on an idle machine "
        "replaces them.",
    )
    return warning


def _missing(name):
    note = nodes.note()
    note += _paragraph(
        f"No results for {name} yet. Run ",
        ("code", f"python benchmarks/{SCRIPTS.get(name, name + '.py')}"), ".",
    )
    return note


class BenchmarkResults(SphinxDirective):
    """The conditions and tables of one results file."""

    required_arguments = 1
    option_spec = {"tables": directives.unchanged, "notes": directives.flag}

    def run(self):
        name = self.arguments[0]
        path, payload = load(name)
        self.env.note_dependency(str(RESULTS / f"{name}.json"))
        if payload is None:
            return [_missing(name)]
        self.env.note_dependency(str(path))
        out = []
        if payload.get("mode") != "full":
            out.append(_quick_warning(path))
        out.append(conditions(path, payload))
        tables = payload.get("results", {}).get("tables", [])
        wanted = self.options.get("tables")
        numbers = (
            [int(n) for n in wanted.replace(",", " ").split()]
            if wanted
            else range(1, len(tables) + 1)
        )
        for number in numbers:
            if not 1 <= number <= len(tables):
                raise self.error(
                    f"{path.name} has {len(tables)} tables; there is no table "
                    f"{number}"
                )
            spec = tables[number - 1]
            # The last column ("note") is empty unless a row was left out.
            columns, rows = spec["columns"], spec["rows"]
            if columns[-1] == "note" and not any(row[-1] for row in rows):
                columns, rows = columns[:-1], [row[:-1] for row in rows]
            out.append(table(columns, rows, title=spec["title"]))
            if "notes" in self.options:
                out += [_paragraph(text) for text in spec.get("notes", [])]
        return out


class BenchmarkTargets(SphinxDirective):
    """Every target of every results file, with its verdict and source."""

    def run(self):
        names = sorted(
            {p.name.split(".")[0] for p in RESULTS.glob("*.json")},
            key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n),
        )
        rows = []
        for name in names:
            path, payload = load(name)
            self.env.note_dependency(str(path))
            source = f"{path.name}, {payload.get('date', '?')[:10]}"
            for target in payload.get("results", {}).get("targets", []):
                rows.append([
                    target["target"], target["measured"], target["threshold"],
                    target["verdict"], source,
                ])
        if not rows:
            return [_missing("any benchmark (bench_fit.py, bench_predict.py)")]
        out = []
        if any(row[3] in ("pass?", "fail?") for row in rows):
            out.append(_quick_warning(Path("*.quick.json")))
        out.append(table(["target", "measured", "threshold", "verdict", "from"], rows))
        return out


def setup(app):
    app.add_directive("benchmark-results", BenchmarkResults)
    app.add_directive("benchmark-targets", BenchmarkTargets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
