"""``python -m painterly.cli``."""

from . import main

main()
