"""C{python -m poetry}: the same as the C{get-poetry} command."""

from poetry.cli import main

if __name__ == "__main__":
    main()
