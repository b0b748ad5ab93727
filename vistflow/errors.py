"""Errors shared by every stage."""

from __future__ import annotations


class VistflowError(Exception):
    """An error caused by the user's input (bad file, bad flag); the CLI prints it without a traceback."""


class InputFormatError(VistflowError):
    """A file does not match its contract. The message names the file, the JSON path and the reason."""

    def __init__(self, file: str, path: str, reason: str):
        self.file, self.path, self.reason = str(file), path, reason
        super().__init__(f"{self.file}: {path or '$'}: {reason}")
