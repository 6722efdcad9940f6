"""``python -m nasedge``: the ``nasedge`` command, also as torchrun's module (``torchrun -m nasedge train ...``)."""

import sys

from nasedge.cli import main

if __name__ == "__main__":
    sys.exit(main())
