"""``python -m llmrelay.cli``."""

from llmrelay.cli.main import main

main()
