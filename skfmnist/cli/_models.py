"""The classifiers the commands can train: ``--model dense`` or ``--model conv``."""

from typing import NamedTuple

__all__ = ["MODELS", "classifier_class", "describe", "make_pipeline"]


class Model(NamedTuple):
    """A classifier the commands offer, and what ``skfmnist search`` varies."""

    #: Name of the class in skfmnist (getting it imports TensorFlow).
    class_name: str
    #: Parameter that ``skfmnist search`` grid-searches.
    grid_param: str
    #: Default candidates of that search, as command-line strings.
    default_grid: tuple


MODELS = {
    "dense": Model("DenseClassifier", "hidden_layer_sizes",
                   ("128", "256,128", "20,20,20")),
    "conv": Model("ConvClassifier", "filters", ("16,32", "32,64")),
}


def classifier_class(model):
    """The class of ``--model`` (imports TensorFlow)."""
    import skfmnist

    return getattr(skfmnist, MODELS[model].class_name)


def make_pipeline(params, model="dense"):
    """``Pipeline([("scale", PixelScaler()), ("clf", <classifier>(**params))])``."""
    from sklearn.pipeline import Pipeline

    from .._scaler import PixelScaler

    return Pipeline(
        [("scale", PixelScaler()), ("clf", classifier_class(model)(**params))]
    )


def describe(params, model="dense"):
    """``DenseClassifier(epochs=3)``: the classifier with the options set."""
    text = ", ".join(f"{name}={value!r}" for name, value in params.items())
    return f"{MODELS[model].class_name}({text})"
