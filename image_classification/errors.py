"""The one exception type for bad user input; ``main.py`` prints it as a single line, no traceback."""


class UsageError(Exception):
    """Bad input from the user: a missing data path, an unknown config key, a checkpoint of another model."""
