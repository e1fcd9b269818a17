"""``python -m tensordiff``: runs the command line (see ``cli``).

The guard keeps importing this module harmless (pytest --doctest-modules imports every module).
"""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
