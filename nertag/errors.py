"""The one exception type nertag raises for a user's mistake (bad corpus, model or input)."""


class NertagError(Exception):
    """An expected failure: the CLI prints its message on one line and exits non-zero.

    `where` names the file (and line) at fault, e.g. ``train.txt:12``.
    """

    exit_code = 1

    def __init__(self, message, where=None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class BadInputError(NertagError):
    """A corpus or text that cannot be read as given."""

    exit_code = 1


class BadModelError(NertagError):
    """A model file that is missing, corrupt, foreign or of another format version."""

    exit_code = 3
