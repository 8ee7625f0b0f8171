"""``python -m textrec``: the same command as the ``textrec`` console script."""

from textrec.cli import main

if __name__ == "__main__":
    main()
