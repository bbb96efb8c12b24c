"""The two ways a command fails: the user's input was wrong, or the job itself failed."""


class UsageError(Exception):
    """Bad input: a flag, a pin or a file the user can fix. Exit status 2."""


class JobError(Exception):
    """The job failed (a download, a build, the engine). Exit status 1."""
