"""The exceptions Loupe raises: one class per kind of failure, each carrying Loupe's own sentence.

Every class derives from :class:`LoupeError` and from the built-in exception that fits, so callers may
catch either: a bad parameter is a :class:`ValueError`, a model that failed a :class:`RuntimeError`.
"""


class LoupeError(Exception):
    """Base class of Loupe's errors. ``code`` names the kind of failure ("invalid_argument", "model_error", ...)."""

    code = "internal"


class InvalidArgumentError(LoupeError, ValueError):
    """Bad input: a parameter, a row selection, a column, a pipeline file."""

    code = "invalid_argument"


class NotFoundError(LoupeError, ValueError):
    """Something named does not exist: a file, a column, an explainer, a step."""

    code = "not_found"


class UnsupportedError(LoupeError, ValueError):
    """The model or the data lacks what the explainer needs."""

    code = "unsupported"


class ModelError(LoupeError, RuntimeError):
    """The model failed while predicting (a model callable raised, or returned the wrong shape)."""

    code = "model_error"


class PluginError(LoupeError, RuntimeError):
    """A plugin could not be loaded, or failed, or produced a result the host refused."""

    code = "plugin_error"


class LoupeIOError(LoupeError, OSError):
    """Reading or writing a file failed."""

    code = "io_error"


class CancelledError(LoupeError, RuntimeError):
    """The explanation was cancelled."""

    code = "cancelled"


class InternalError(LoupeError, RuntimeError):
    """A bug in Loupe: please report it with the message."""

    code = "internal"


_BY_CODE = {
    cls.code: cls
    for cls in (InvalidArgumentError, NotFoundError, UnsupportedError, ModelError, PluginError,
                LoupeIOError, CancelledError, InternalError)
}


def error_for(code, message):
    """The exception for a Loupe status ``code`` with ``message`` (used by the C++ module)."""
    error = _BY_CODE.get(code, InternalError)(message)
    error.code = code
    return error
