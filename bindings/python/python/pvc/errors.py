"""Errors raised by pvc: one class per kind of failure, each carrying the CLI's message."""

from typing import Optional

__all__ = ["PvcError", "SchemaError", "ModelError", "OutputError", "CheckError"]


class PvcError(Exception):
    """A pvc job failed; nothing was written and a previous output is untouched.

    ``message`` is the line ``pvc`` prints after ``error:``; ``json_path`` names the offending
    schema field (``representations[0].component``) when the schema is at fault, else ``None``.
    """

    def __init__(self, message: str, json_path: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.json_path = json_path

    def __reduce__(self):  # keeps both attributes through pickling (multiprocessing)
        return (type(self), (self.message, self.json_path))


class SchemaError(PvcError):
    """The schema, or a call-time argument (``unit_locations``, ``subspaces``), is wrong."""


class ModelError(PvcError):
    """The model cannot be read, or cannot take this rewrite."""


class OutputError(PvcError):
    """The output was refused (an input of the run, not a regular file, no directory) or could
    not be written."""


class CheckError(PvcError):
    """``check=True`` and tract or ONNX Runtime refused the patched model."""
