"""One JSON error shape for every error the API returns: {"error": {code, message, details}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard.errors import ModelyardError

logger = logging.getLogger("modelyard.api")

HTTP_CODES = {
    400: "ValidationError",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    416: "RangeNotSatisfiable",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    for err in errors:
        location = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        problems.append({"field": location, "problem": err.get("msg", "invalid")})
    text = "; ".join(f"{p['field'] or 'body'}: {p['problem']}" for p in problems)
    return f"invalid request: {text}", problems


def install(app: FastAPI) -> None:
    @app.exception_handler(ModelyardError)
    async def _modelyard(_: Request, exc: ModelyardError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, problems = _validation_message(list(exc.errors()))
        return error_response(400, "ValidationError", message, {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "HTTPError")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route; see /docs for the API"
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "InternalError", f"{type(exc).__name__}: {exc}")
