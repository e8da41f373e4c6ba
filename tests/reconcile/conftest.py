"""Make ``app`` importable when the project is not installed into the venv.

Redundant (and harmless) once a root ``conftest.py`` exists or the project is installed with
``pip install -e .``; the lead may drop it then.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
