"""What GitHub Actions reads: `matrix` (the build matrix from the pins) and `summary` (the job
summary of a build's --json)."""
