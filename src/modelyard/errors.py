"""Every error modelyard raises on purpose, in one tree.

    ModelyardError                 base; carries code, message, details and an HTTP status
    ├── InvalidRequest (400)       a malformed body, a bad field value
    │   └── InvalidHyperparameters (400)  names each bad hyperparameter and what is allowed
    ├── Unauthorized (401)         no token, or a wrong one
    ├── Forbidden (403)            a valid token that may not do this
    ├── NotFound (404)             an unknown resource name, bucket or key
    ├── Conflict (409)             a name already taken, a state that forbids the action
    ├── RangeNotSatisfiable (416)  a byte range outside the object
    ├── UnsupportedMediaType (415) a content type the receiver cannot read
    ├── NotAcceptable (406)        an Accept type the sender cannot write
    ├── ServiceUnavailable (503)   an endpoint with no instance ready
    ├── ServerNotRunning           the SDK or CLI found no server to talk to (client side)
    └── UnexpectedStatusException  a job or endpoint the SDK waited on ended Failed or Stopped

The API turns each into the one JSON error shape {"error": {"code", "message", "details"}};
the SDK turns that shape back into the same class, so a caller catches the same error whether
the failure happened in-process or across HTTP.
"""

from __future__ import annotations

from typing import Any


class ModelyardError(Exception):
    status_code = 500
    code = "InternalError"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidRequest(ModelyardError):
    status_code = 400
    code = "ValidationError"


class InvalidHyperparameters(InvalidRequest):
    code = "InvalidHyperparameters"

    def __init__(self, algorithm: str, problems: dict[str, str]) -> None:
        lines = "; ".join(f"{name}: {why}" for name, why in sorted(problems.items()))
        super().__init__(
            f"invalid hyperparameters for {algorithm}: {lines}",
            {"algorithm": algorithm, "problems": problems},
        )
        self.problems = problems


class Unauthorized(ModelyardError):
    status_code = 401
    code = "Unauthorized"


class Forbidden(ModelyardError):
    status_code = 403
    code = "Forbidden"


class NotFound(ModelyardError):
    status_code = 404
    code = "NotFound"


class Conflict(ModelyardError):
    status_code = 409
    code = "Conflict"


class UnsupportedMediaType(ModelyardError):
    status_code = 415
    code = "UnsupportedMediaType"


class NotAcceptable(ModelyardError):
    status_code = 406
    code = "NotAcceptable"


class RangeNotSatisfiable(ModelyardError):
    status_code = 416
    code = "RangeNotSatisfiable"


class ServiceUnavailable(ModelyardError):
    status_code = 503
    code = "ServiceUnavailable"


class ServerNotRunning(ModelyardError):
    status_code = 503
    code = "ServerNotRunning"


class UnexpectedStatusException(ModelyardError):
    """SageMaker's name: raised by fit()/wait() when the job did not complete."""

    status_code = 409
    code = "UnexpectedStatus"

    def __init__(
        self, message: str, actual_status: str = "", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details)
        self.actual_status = actual_status


ERRORS_BY_CODE: dict[str, type[ModelyardError]] = {
    cls.code: cls
    for cls in (
        ModelyardError,
        InvalidRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        UnsupportedMediaType,
        NotAcceptable,
        RangeNotSatisfiable,
        ServiceUnavailable,
        ServerNotRunning,
    )
}


def error_from_dict(status_code: int, body: dict[str, Any]) -> ModelyardError:
    """Rebuild the error a server sent in the JSON error shape."""
    code = str(body.get("code", "InternalError"))
    message = str(body.get("message", "unknown error"))
    details = body.get("details") or {}
    if code == InvalidHyperparameters.code:
        problems = details.get("problems")
        if isinstance(problems, dict):  # the same exception, .problems included, as in-process
            return InvalidHyperparameters(str(details.get("algorithm", "")), problems)
        err: ModelyardError = InvalidRequest(message, details)
        err.code = code
        return err
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        err = ModelyardError(message, details)
        err.code = code
        err.status_code = status_code
        return err
    return cls(message, details)
