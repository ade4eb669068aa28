"""The embedded local stack (not deployed).

Every ``python -m local.<tool>`` needs the Lambda layer's package on its path, as Lambda
has /opt/python: put ``shared/`` there once, here.
"""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
