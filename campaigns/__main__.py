"""`python -m campaigns`: the CLI, for child processes that must run this very interpreter."""

from campaigns.cli import main

main()
