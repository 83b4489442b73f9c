"""`python -m bot.ops.rasa_cli run …`: Rasa's own command line, with the HTTP API token kept off argv.

`rasa run --enable-api --auth-token=TOKEN` puts the token in the process's command line, which
`ps` and /proc/<pid>/cmdline show to every local user. Here the token is read from
GOVBOT_RASA_TOKEN or from the file named by GOVBOT_RASA_TOKEN_FILE and handed to Rasa's argument
parser inside this process (sys.argv is a copy: the kernel's command line stays as it was started).
`--enable-api` without a token is refused: the API must never be open. Without `--cors`, `run`
gets the origins of GOVBOT_WEB_ORIGINS (`cors_arguments`), as the socket.io channel does.
"""

from __future__ import annotations

import sys

from bot.settings.access import AccessSettings

TOKEN_ENV = AccessSettings.variable("rasa_token").name


def cors_arguments(argv: list[str], origins: str | None = None) -> list[str]:
    """`argv` with `--cors <origin> …` from GOVBOT_WEB_ORIGINS for `run` when it names none.

    Browsers on the pages embedding the widget call the REST channel; Rasa answers their CORS
    preflight only for `--cors` origins. The socket.io channel reads the same variable, so
    `make run`, compose and Kubernetes all allow exactly the origins of GOVBOT_WEB_ORIGINS
    (default http://127.0.0.1:8080, the project's web server); `*` is refused.
    """
    if not argv or argv[0] != "run" or any(arg == "--cors" or arg.startswith("--cors=") for arg in argv):
        return list(argv)
    from bot.channels.socketio import allowed_origins

    return [*argv, "--cors", *allowed_origins(origins)]


def rasa_arguments(argv: list[str], token: str) -> list[str]:
    """`argv` with `--auth-token=<token>` added when the API is enabled; ValueError when it would be open."""
    if any(arg == "--auth-token" or arg.startswith("--auth-token=") for arg in argv):
        raise ValueError("不要在命令行上传递 --auth-token（ps 可见）：请用环境变量 GOVBOT_RASA_TOKEN 或 GOVBOT_RASA_TOKEN_FILE")
    argv = cors_arguments(argv)
    if "--enable-api" not in argv:
        return list(argv)
    if not token:
        raise ValueError("开启 Rasa HTTP API（--enable-api）须设置 GOVBOT_RASA_TOKEN 或 GOVBOT_RASA_TOKEN_FILE")
    return [*argv, f"--auth-token={token}"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        args = rasa_arguments(args, AccessSettings.read("rasa_token"))
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    from rasa.__main__ import main as rasa_main

    if args and args[0] == "run":
        import bot.rasa_plugins

        bot.rasa_plugins.install()  # the project's patches of Rasa, before it builds its app
    sys.argv = ["rasa", *args]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
