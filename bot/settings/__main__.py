"""`python -m bot.settings --env-example`: print deploy/govbot.env.example from the declarations."""

from __future__ import annotations

import argparse
import sys

from bot.settings import env_example


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.settings", description="全部配置（bot/settings/）")
    parser.add_argument("--env-example", action="store_true", help="输出 deploy/govbot.env.example 的内容")
    args = parser.parse_args(argv)
    if not args.env_example:
        parser.print_help()
        return 2
    sys.stdout.write(env_example())
    return 0


if __name__ == "__main__":
    sys.exit(main())
