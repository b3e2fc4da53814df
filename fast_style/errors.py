"""The one exception type that scripts turn into a one-line message instead of a traceback."""


class FastStyleError(Exception):
    """A user-fixable problem (missing file, bad setting); the message says which and what to do."""
