"""`python -m bot.case_service`: run the reference case service."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web
from sqlalchemy.engine import make_url

from .config import DEFAULT_HOST, DEFAULT_PORT, CaseServiceConfig
from .deadlines import CalendarConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.case_service", description="政务公开咨询助手 — reference case service")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL, e.g. postgresql://postgres@127.0.0.1:5432/test "
        "(default: $GOVBOT_CASE_DATABASE_URL, else sqlite:///<repo>/var/cases.db)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    from bot.ops.log_files import configure

    configure(f"case-service-{args.port}", logging.DEBUG if args.verbose else logging.INFO)  # + GOVBOT_LOG_DIR files

    from .app import PathOnlyAccessLogger, create_app

    try:
        config = CaseServiceConfig.from_env(database_url=args.database_url)
        app = create_app(config)
    except (ValueError, CalendarConfigError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    database = make_url(config.database_url).render_as_string(hide_password=True)
    logging.getLogger("bot.case_service").info("case service on http://%s:%d (database %s)", args.host, args.port, database)
    web.run_app(app, host=args.host, port=args.port, access_log=logging.getLogger("bot.case_service.access"),
                access_log_class=PathOnlyAccessLogger, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
