"""One error type for every refusal, so all of them reach the client in the same JSON shape.

Shape: {"error": {"code": "<machine-readable>", "message": "<中文说明>", "details": [...]}};
`code` is stable for integrators, `message` is meant to be shown to people.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found() -> ApiError:
    """The same answer for an unknown number and a wrong phone check, so neither reveals the other."""
    return ApiError(404, "case_not_found", "未找到该案件，请核对受理编号和手机号后四位")
