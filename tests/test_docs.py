"""The documentation builds without warnings and its examples run.

Two checks, skipped when the ``docs`` extra is not installed:

* ``sphinx-build -W`` of a copy of ``docs/`` with the gallery not executed
  (``-D plot_gallery=0``): catches broken reStructuredText, numpydoc
  docstrings that do not parse, unresolved references and missing API
  entries.
* every gallery script in ``docs/examples/`` runs to completion.

The full build (``sphinx-build -W -b html docs docs/_build/html``) runs the
examples inside Sphinx as well; these tests cover the same ground in a
fraction of the time and name the failing example.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

# The packages of the ``docs`` extra.
for _module in (
    "sphinx",
    "numpydoc",
    "sphinx_gallery",
    "pydata_sphinx_theme",
    "myst_parser",
    "sphinx-mathjax-offline",
    "matplotlib",
):
    pytest.importorskip(_module)

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("plot_*.py"))
# Build outputs that a local build may have left in docs/; not copied.
GENERATED = ("_build", "auto_examples", "gen_modules", "sg_execution_times.rst")


def test_docs_build_without_warnings(tmp_path):
    # Build a copy, so that the files sphinx-gallery and autosummary generate
    # next to the sources do not touch the working tree.
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(DOCS, root / "docs", ignore=shutil.ignore_patterns(*GENERATED))
    for sibling in ("benchmarks", "skgmvae", "README.md"):
        if (REPO_ROOT / sibling).exists():
            (root / sibling).symlink_to(REPO_ROOT / sibling)
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-D",
        "plot_gallery=0",
        "-d",
        str(tmp_path / "doctrees"),
        str(root / "docs"),
        str(tmp_path / "html"),
    ]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    html = tmp_path / "html"
    for page in (
        "index.html",
        "api.html",
        "user_guide/model.html",
        "auto_examples/index.html",
        "gen_modules/skgmvae.GMVAEClustering.html",
    ):
        assert (html / page).is_file(), page
    # MathJax is served locally, never from a CDN.
    model_page = (html / "user_guide/model.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml.js" in model_page
    assert (html / "_static/mathjax/tex-chtml.js").is_file()


@pytest.fixture
def one_thread():
    # The examples solve small problems: one thread (in PyTorch, BLAS and
    # OpenMP) is as fast as several and keeps a busy machine responsive, as
    # in docs/conf.py. Restored afterwards.
    import torch
    from threadpoolctl import threadpool_limits

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(n_threads)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, one_thread, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.exceptions import ConvergenceWarning

    monkeypatch.chdir(tmp_path)
    try:
        with warnings.catch_warnings():
            # The examples train briefly on purpose (see docs/conf.py).
            warnings.filterwarnings(
                "ignore",
                message="GMVAE[A-Za-z]+ stopped after",
                category=ConvergenceWarning,
            )
            runpy.run_path(str(script), run_name="__main__")
    finally:
        plt.close("all")


def test_examples_are_found():
    assert len(EXAMPLES) >= 6
