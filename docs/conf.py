"""Sphinx configuration of the skfmnist documentation.

Build with ``make -C docs html`` (warnings are errors, the gallery runs), or
``make -C docs html-noplot`` to skip running the gallery. No network access is
needed: set ``SKFMNIST_DOCS_INTERSPHINX=1`` to link to the Python, NumPy,
scikit-learn, pandas and Matplotlib documentation when online.
"""

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Document the working tree's package when it is not installed.
try:
    import skfmnist
except ImportError:
    sys.path.insert(0, str(ROOT))
    import skfmnist
sys.path.insert(0, str(DOCS / "_ext"))

# Figures are drawn off-screen, by the gallery and the plot directive alike.
os.environ.setdefault("MPLBACKEND", "Agg")
import matplotlib

matplotlib.use("Agg")

# -- project -----------------------------------------------------------------

project = "skfmnist"
author = "skfmnist developers"
copyright = "skfmnist developers; Fashion-MNIST (c) 2017 Zalando SE"
version = release = skfmnist.__version__

# -- general -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "skfmnist_docs",
    "benchmark_results",
    "plain_math",
]
# Formulas as plain HTML (docs/_ext/plain_math.py): MathJax would fetch a
# script from the network in the reader's browser.
html_math_renderer = "plain"

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_templates",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.pickle",
    "auto_examples/*.codeobj.json",
]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"
language = "en"

# -- autodoc, autosummary, numpydoc -------------------------------------------

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
# Nothing is mocked: the gallery and the landing-page figure run the real code.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True
numpydoc_validation_checks = set()

# -- intersphinx: only on request, the build needs no network ------------------

if os.environ.get("SKFMNIST_DOCS_INTERSPHINX"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# -- matplotlib plot directive (the landing-page figure) -----------------------

plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"savefig.bbox": "tight"}

# -- sphinx-gallery ------------------------------------------------------------

# TensorFlow's start-up chatter and Keras' own warnings are not what the
# gallery is about.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", message=".*Matplotlib is currently using agg.*")
warnings.filterwarnings("ignore", message=".*FigureCanvasAgg is non-interactive.*")

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    # Run every plot_*.py script; an error in any of them fails the build.
    "filename_pattern": r"[\\/]plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "within_subsection_order": "gallery_order.StoryOrder",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skfmnist",),
    "reference_url": {"skfmnist": None},
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 5,
}

# -- HTML ------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skfmnist {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {
    "index": [],
    "install": [],
    "changelog": [],
}
