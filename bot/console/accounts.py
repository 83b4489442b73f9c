"""账号 (admins: create, disable, enable, reset passwords; the recent audit log) and 修改密码 (everyone)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .auth import audit, current_user, require_role, store
from .layout import render
from .store import MIN_PASSWORD_LENGTH, AccountError, new_password

ACTION_LABELS = {
    "sign_in": "登录", "sign_in_failed": "登录失败", "sign_out": "退出登录", "denied": "越权访问被拒绝",
    "csrf_refused": "CSRF 校验失败被拒绝", "account_create": "创建账号", "account_disable": "停用账号",
    "account_enable": "启用账号", "password_reset": "重设密码", "password_change": "修改本人密码",
    "case_view": "查看办件", "case_transition": "办理办件", "cases_list": "查看办件列表", "analytics_view": "查看统计",
}


async def _page(request: web.Request, *, notice: str = "", error: str = "", status: int = 200) -> web.Response:
    users = await asyncio.to_thread(store(request).list_users)
    entries = await asyncio.to_thread(store(request).audit_entries, 50)
    return render(
        request, "accounts.html", title="账号", users=users, entries=entries, action_labels=ACTION_LABELS,
        notice=notice, error=error, min_length=MIN_PASSWORD_LENGTH, status=status,
    )


@require_role("admin")
async def accounts(request: web.Request) -> web.Response:
    return await _page(request)


@require_role("admin")
async def create_account(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    role = str(form.get("role", "staff"))
    password = new_password()
    try:
        user = await asyncio.to_thread(store(request).create_user, username, password, role, str(form.get("display_name", "")))
    except AccountError as exc:
        return await _page(request, error=str(exc), status=400)
    await audit(request, "account_create", user.username, f"role={user.role}")
    return await _page(request, notice=f"已创建账号 {user.username}（{user.role_label}），初始密码：{password}。请当面或经安全渠道告知本人，只显示这一次。")


@require_role("admin")
async def change_account(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    form = await request.post()
    operation = str(form.get("operation", ""))
    try:
        if operation in ("disable", "enable"):
            if operation == "disable" and username == current_user(request).username:
                raise AccountError("不能停用自己正在使用的账号")
            user = await asyncio.to_thread(store(request).set_disabled, username, operation == "disable")
            await audit(request, f"account_{operation}", user.username)
            return await _page(request, notice=f"账号 {user.username} 已{'停用' if operation == 'disable' else '启用'}。")
        if operation == "reset":
            password = new_password()
            user = await asyncio.to_thread(store(request).set_password, username, password)
            await audit(request, "password_reset", user.username)
            return await _page(request, notice=f"账号 {user.username} 的新密码：{password}（只显示这一次）。")
    except AccountError as exc:
        return await _page(request, error=str(exc), status=400)
    return await _page(request, error="未知的操作。", status=400)


@require_role("staff")
async def password_page(request: web.Request) -> web.Response:
    return render(request, "password.html", title="修改密码", error="", notice="", min_length=MIN_PASSWORD_LENGTH)


@require_role("staff")
async def change_password(request: web.Request) -> web.Response:
    form = await request.post()
    user = current_user(request)
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))

    def page(error: str = "", notice: str = "", status: int = 200) -> web.Response:
        return render(request, "password.html", title="修改密码", error=error, notice=notice,
                      min_length=MIN_PASSWORD_LENGTH, status=status)

    if new != again:
        return page("两次输入的新密码不一致。", status=400)
    checked = await asyncio.to_thread(store(request).verify_password, user.username, current)
    if not checked:
        return page("当前密码不正确。", status=400)
    try:
        await asyncio.to_thread(store(request).set_password, user.username, new)
    except AccountError as exc:
        return page(str(exc), status=400)
    await audit(request, "password_change", user.username)
    raise web.HTTPFound("/console/login")  # every session of the account ended with the change: sign in again


def setup(app: web.Application) -> None:
    app.router.add_get("/console/accounts", accounts)
    app.router.add_post("/console/accounts", create_account)
    app.router.add_post("/console/accounts/{username}", change_account)
    app.router.add_get("/console/password", password_page)
    app.router.add_post("/console/password", change_password)
