"""nertag: a named-entity tagger built on the lecture's bidirectional recurrent network.

    import nertag
    tagger = nertag.load()                 # the shipped model
    doc = tagger("Angela Merkel visited Paris.")
    doc.entities                           # [Entity(text='Angela Merkel', label='PER', ...), ...]

Importing nertag is light: NumPy is imported when a model is first loaded, Numba only when
training. nertag changes no process-wide setting: its matrices are small, so one BLAS thread is
fastest, and a Tagger's own calls and training run on one BLAS thread through threadpoolctl (the
previous count restored afterwards).
"""

__version__ = "0.1.0"

_API = {
    "load": "tagger", "Tagger": "tagger", "Doc": "tagger", "Token": "tagger",
    "Entity": "tagger", "train": "training", "NertagError": "errors", "BadInputError": "errors",
    "BadModelError": "errors", "render_html": "tagger",
}
__all__ = sorted(_API)


def __getattr__(name):
    """The API, imported when first used (so ``import nertag`` imports no NumPy)."""
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'nertag' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
