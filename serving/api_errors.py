"""Errors the REST API answers with: each maps to an HTTP status and a TF Serving error code."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered as `{"error": message}` with `http_status`."""

    http_status = 500
    code = "INTERNAL"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ApiError):
    """The client's request is wrong (bad JSON, names, shapes, images): 400."""

    http_status = 400
    code = "INVALID_ARGUMENT"


class NotFound(ApiError):
    """Unknown model or version: 404."""

    http_status = 404
    code = "NOT_FOUND"


class PayloadTooLarge(ApiError):
    """The request body is above the server's limit: 413."""

    http_status = 413
    code = "RESOURCE_EXHAUSTED"


class Unavailable(ApiError):
    """The server cannot take the request now (queue full, version unloading): 503."""

    http_status = 503
    code = "UNAVAILABLE"


class Internal(ApiError):
    """A failure on the server's side: 500."""

    http_status = 500
    code = "INTERNAL"
