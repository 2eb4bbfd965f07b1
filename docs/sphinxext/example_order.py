"""Fixed reading order of the example gallery.

Examples listed in ``ORDER`` come first, in that order; any other example
follows, sorted by file name.
"""

ORDER = [
    "plot_quickstart_digits.py",
    "plot_pipeline_grid_search.py",
    "plot_generate_samples.py",
    "plot_latent_space.py",
    "plot_compare_kmeans_gmm.py",
    "plot_tabular_gaussian.py",
    "plot_semisupervised_digits.py",
]


class ExampleOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (0, ORDER.index(filename), filename)
        return (1, 0, filename)

    def __repr__(self):
        return f"<{self.__class__.__name__}>"
