"""One error type for every refusal, so all of them reach the client in the same JSON shape.

Shape: {"error": {"code": "<machine-readable>", "message": "<中文说明>", "details": [...]}};
`code` is stable for integrators, `message` is meant to be shown to people.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list[dict] | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if getattr(self, "retry_after", None):
            error["retry_after"] = self.retry_after
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found() -> ApiError:
    """The same answer for an unknown number and a wrong phone check, so neither reveals the other."""
    return ApiError(404, "case_not_found", "未找到该案件，请核对受理编号和手机号后四位")


def lookup_locked(seconds: float) -> ApiError:
    """Too many failed look-ups of this number: the same answer whether or not it exists."""
    minutes = max(1, int(seconds + 59) // 60)
    retry = max(1, int(seconds + 0.999))
    error = ApiError(
        429, "lookup_locked", f"该受理编号查询错误次数过多，已暂时锁定，请 {minutes} 分钟后再试或联系工作人员",
        headers={"Retry-After": str(retry)},
    )
    error.retry_after = retry
    return error
