"""``python -m headway`` runs the command line."""

from headway.cli import main

main()
