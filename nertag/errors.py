"""The exception types nertag raises for a user's mistake (bad corpus, model or input)."""


class NertagError(Exception):
    """An expected failure: the CLI prints its message on one line and exits non-zero.

    `where` names the file (and line) at fault, e.g. ``train.txt:12``.
    """

    exit_code = 1

    def __init__(self, message, where=None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def __str__(self):
        return f"{self.where}: {self.message}" if self.where else self.message


class BadInputError(NertagError):
    """A corpus or text that cannot be read as given."""

    exit_code = 1


class BadModelError(NertagError, ValueError):
    """A model file that is corrupt, foreign or of another format version (a ValueError)."""

    exit_code = 3


class MissingModelError(BadModelError, FileNotFoundError):
    """No model file at the path given (a FileNotFoundError, and a BadModelError to the CLI)."""
