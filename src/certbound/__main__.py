"""`python -m certbound`."""

from certbound.cli import main

main()
