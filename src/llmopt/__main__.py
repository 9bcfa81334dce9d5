"""`python -m llmopt …` is the `llmopt` command."""

import sys

from llmopt.cli import run_command

sys.exit(run_command())
