"""nertag: a command-line named-entity tagger built on the lecture's recurrent network."""

import os as _os

# One BLAS thread: nertag's matrices are small, and two-thread BLAS collapses when the other
# core is busy. Set before NumPy is first imported; a user's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.1.0"
