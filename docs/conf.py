"""Sphinx configuration of the skgmvae documentation.

Build the HTML site (from the repository root) with::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

The build needs no network access: there is no intersphinx, the theme's
assets are bundled with it, and MathJax is served from ``_static/mathjax``
(copied there from the ``sphinx-mathjax-offline`` package at the end of the
build). ``-D plot_gallery=0`` skips running the gallery examples.
"""

import os
import sys
import warnings
from pathlib import Path

import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import skgmvae

DOCS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS_DIR / "sphinxext"))

# -- Project information ----------------------------------------------------

project = "skgmvae"
author = "The skgmvae developers"
copyright = "2025, The skgmvae developers"
version = skgmvae.__version__
release = skgmvae.__version__

# -- General configuration --------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # Serves MathJax 3 from _static/mathjax instead of a CDN.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    # Parses benchmarks/README.md, included by benchmarks.rst.
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "sphinxext",
    "examples/GALLERY_HEADER.rst",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.pickle",
]
root_doc = "index"
source_suffix = {".rst": "restructuredtext"}
default_role = "literal"
# "fit()" rather than "GMVAEClustering.fit()" in the page's table of contents.
toc_object_entries_show_parents = "hide"
pygments_style = "sphinx"
# Unresolved Python cross-references stay plain text (there is no
# intersphinx); unresolved :ref: and :doc: targets still fail a -W build.
nitpicky = False

# -- autodoc, autosummary and numpydoc --------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Math -------------------------------------------------------------------

mathjax3_config = {
    "tex": {
        "macros": {
            "KL": r"\operatorname{KL}",
            "E": r"\mathbb{E}",
        }
    }
}

# -- HTML output ------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skgmvae {release}"
html_short_title = "skgmvae"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "logo": {"text": "skgmvae"},
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_center": [],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {
    "index": [],
    "getting_started": [],
    "changelog": [],
    "benchmarks": [],
    "auto_examples/*": [],
}

# -- sphinx-gallery ---------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "example_order.ExampleOrder",
    "doc_module": ("skgmvae",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skgmvae": None},
    "inspect_global_variables": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "download_all_examples": False,
    # The execution-times pages load scripts from a CDN: do not write them.
    "write_computation_times": False,
}

# The gallery trains small models for a few epochs so that the whole site
# builds in a few minutes on a laptop CPU; the examples say so in their text.
# Silence the resulting "stopped after max_iter epochs" warnings in the log.
warnings.filterwarnings(
    "ignore", message="GMVAE[A-Za-z]+ stopped after", category=ConvergenceWarning
)
os.environ.setdefault("MPLBACKEND", "Agg")
# The gallery's problems are small: one thread per operation (in PyTorch and
# in the BLAS and OpenMP libraries scikit-learn uses) is about as fast as
# several, and avoids oversubscribing a busy machine.
torch.set_num_threads(1)
_thread_limits = threadpool_limits(limits=1)


# -- References in docstrings inherited from scikit-learn -------------------

# Methods inherited from scikit-learn's mixins (get_params, set_output,
# set_score_request, ...) carry docstrings with :ref: and :term: targets of
# the scikit-learn documentation,
# which this site does not have (and there is no intersphinx, to keep the
# build offline). Render those references as plain text. Unresolved
# references anywhere else still fail a -W build.


def _plain_text_for_sklearn_refs(app, env, node, contnode):
    from docutils.utils import get_source_line

    if node.get("refdomain") != "std" or node.get("reftype") not in ("ref", "term"):
        return None
    source = get_source_line(node)[0] or ""
    if "docstring of sklearn." not in source:
        return None
    return contnode


def setup(app):
    app.connect("missing-reference", _plain_text_for_sklearn_refs)
