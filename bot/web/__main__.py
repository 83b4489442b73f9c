"""`python -m bot.web`: serve the portal demo page with the widget and the kiosk (default :8080)."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from .app import create_app
from .config import WebConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.web", description="政务公开咨询助手 — 网站挂件演示页与政务大厅自助终端")
    parser.add_argument("--host", default=None, help="address to listen on (default $GOVBOT_WEB_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $GOVBOT_WEB_PORT or 8080)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = WebConfig.from_env(host=args.host, port=args.port)
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    from bot.ops.log_files import attach

    attach(f"web-{config.port}")  # GOVBOT_LOG_DIR: bounded log file (bot.ops.log_files)
    # No access log: URLs can carry a conversation's session id (「扫码手机继续」).
    web.run_app(create_app(config), host=config.host, port=config.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
