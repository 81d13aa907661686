"""Bad user input in the trainer: the library's one exception type (:class:`wavemsa.errors.InputError`)."""
from wavemsa.errors import InputError

UsageError = InputError  # the trainer's historical name for it

__all__ = ["InputError", "UsageError"]
