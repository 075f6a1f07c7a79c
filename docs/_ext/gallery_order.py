"""Order of the examples in the gallery: the story of a first project."""

ORDER = (
    "plot_dataset_first_look.py",
    "plot_notebook_experiments.py",
    "plot_evaluation.py",
    "plot_lr_finder.py",
    "plot_grid_search.py",
    "plot_cnn.py",
    "plot_onnx_export.py",
)


class StoryOrder:
    """Sort key for sphinx-gallery's ``within_subsection_order``.

    Examples listed in ``ORDER`` come first, in that order; any other example
    follows, by file name.
    """

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in ORDER:
            return (ORDER.index(filename), filename)
        return (len(ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
