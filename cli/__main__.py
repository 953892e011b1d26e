"""``python -m cli ...`` is ``vrs ...``."""

from cli.main import main

main()
