"""tallies."""
