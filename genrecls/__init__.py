"""genrecls: tell the genre of a piece of music, and show why.

The package never imports Streamlit; the app in ``app.py``/``pages/`` is a thin layer on top.
"""

import os

# On a small shared CPU, OpenMP threads that spin while waiting stall each other (measured
# here: 2-thread musicnn inference 5x slower beside one busy process). Passive waiting must
# be chosen before torch loads its OpenMP runtime; an explicit setting is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from genrecls.config import GENRES  # noqa: E402

__all__ = ["GENRES", "__version__"]
__version__ = "0.1.0"
