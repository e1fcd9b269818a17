"""The command line: ``tensordiff demo`` runs the four seed questions end to end."""

import sys

__all__ = ["main"]


def main(argv=None):
    """Entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] == "demo":
        from . import demo
        demo.run()
        return 0
    print(f"tensordiff: unknown command {argv[0]!r}; try 'tensordiff demo'", file=sys.stderr)
    return 2
