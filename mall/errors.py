"""Error rendering: JSON with stable codes under /api, friendly Chinese pages elsewhere.

Nothing the user sends may produce a 500: validation failures, refused rules, missing
objects, CSRF failures and oversized uploads all become clear messages here.
"""
from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .problems import ServiceError

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: ("bad_request", "请求格式错误"),
    401: ("unauthenticated", "请先登录或提供有效的访问令牌"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "页面或对象不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "请求与当前状态冲突"),
    413: ("payload_too_large", "上传内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_error", "提交的数据有误"),
    429: ("too_many_requests", "请求过于频繁"),
    500: ("internal_error", "服务器内部错误，请稍后再试"),
}


def is_api() -> bool:
    return request.path.startswith("/api/")


def _error_body(code: str, message: str, details=None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def api_error(status: int, code: str, message: str, details=None):
    return jsonify(_error_body(code, message, details)), status


def init_app(app):
    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        db.session.rollback()
        if is_api():
            # every error has "error" (the first problem's code and message); a 422 also lists
            # every problem under "problems", so a client reads refusals one way
            p = exc.problems[0]
            details = {k: v for k, v in p.to_dict().items() if k not in ("code", "message")}
            body = _error_body(p.code, p.message, details or None)
            if exc.status == 422:
                body["problems"] = [q.to_dict() for q in exc.problems]
            return jsonify(body), exc.status
        return render_template("error.html", status=exc.status,
                               messages=[p.message for p in exc.problems]), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        db.session.rollback()
        if is_api():
            return api_error(400, "csrf_failed", "CSRF校验失败")
        return render_template("error.html", status=400,
                               messages=["页面已过期或表单校验失败（CSRF），请刷新页面后重试"]), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        status = exc.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", exc.description or "请求错误"))
        if is_api():
            data = getattr(exc, "data", None) or {}
            details = data.get("messages") or data.get("errors")
            if details and status == 422:
                # webargs validation errors: {"json": {"field": ["msg"]}}
                return api_error(422, "validation_error", "提交的数据有误", details)
            headers = getattr(exc, "get_headers", lambda: [])() if status == 405 else None
            resp = api_error(status, code, data.get("message") or message)
            return resp if not headers else (resp[0], status, [h for h in headers if h[0] == "Allow"])
        return render_template("error.html", status=status, messages=[message]), status

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def out_of_range(exc):
        """A number the database cannot hold (SQLite: OverflowError; PostgreSQL: numeric value
        out of range, SQLSTATE 22003) that no form or schema bounded first: the request's fault,
        said plainly. Any other data error is a server fault."""
        if isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) != "22003":
            return unexpected(exc)
        log.warning("value out of range on %s %s: %s", request.method, request.path, exc)
        db.session.rollback()
        message = "提交的数值超出允许范围"
        if is_api():
            return api_error(422, "value_out_of_range", message)
        return render_template("error.html", status=422, messages=[message + "，请检查后重试"]), 422

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        if app.config.get("PROPAGATE_UNEXPECTED"):
            raise exc
        if is_api():
            return api_error(500, "internal_error", HTTP_CODES[500][1])
        return render_template("error.html", status=500, messages=[HTTP_CODES[500][1]]), 500
