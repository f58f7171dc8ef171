"""``python -m backend.cli``: the same as the ``psychograph`` command."""

from backend.cli import main

main()
