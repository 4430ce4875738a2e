"""genrecls: tell the genre of a piece of music, and show why.

The package never imports Streamlit; the app in ``app.py``/``pages/`` is a thin layer on top.
"""

from genrecls.config import GENRES

__all__ = ["GENRES", "__version__"]
__version__ = "0.1.0"
