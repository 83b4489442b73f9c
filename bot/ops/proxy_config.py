"""nginx configuration for the production profile, rendered from deploy/nginx/*.template.

scripts/run.sh and the scale-out tests (tests/scaleout_stack.py) write a complete nginx.conf for an
nginx run as the invoking user, with pid, logs and temporary files under one prefix directory:

    python -m bot.ops.proxy_config --prefix var/nginx --rasa-listen 127.0.0.1:5005 --action-listen 127.0.0.1:5055 \\
        --rasa 127.0.0.1:5011 --rasa 127.0.0.1:5012 --action 127.0.0.1:5061 --action 127.0.0.1:5062
    nginx -p var/nginx -c nginx.conf -e error.log

`--http-only` prints just the http-level part (upstreams, maps, servers), the file docker compose
mounts into the nginx image's conf.d (deploy/nginx/compose.conf, kept equal to the template by a test).
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # bot/ops/ -> the project
TEMPLATES = ROOT / "deploy" / "nginx"
HTTP_TEMPLATE = TEMPLATES / "govbot.conf.template"
MAIN_TEMPLATE = TEMPLATES / "nginx.conf.template"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
DEFAULT_MAX_BODY = "1m"  # as SANIC_REQUEST_MAX_SIZE in scripts/run.sh; the channels have smaller limits
# Passive health checks: out after one failed connection, tried again after this long.
MAX_FAILS, FAIL_TIMEOUT = 1, "5s"


def nginx_binary() -> str | None:
    """Debian's nginx (`make nginx`), or one on PATH."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def fill(template: str, values: dict[str, str]) -> str:
    """Replaces every {{name}}; a placeholder without a value is an error, never left in the output."""
    missing = sorted({m.group(1) for m in PLACEHOLDER.finditer(template)} - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def _servers(addresses: list[str]) -> str:
    if not addresses:
        raise ValueError("an upstream needs at least one server")
    return "\n".join(f"    server {a} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT};" for a in addresses)


def render_http(
    rasa: list[str], actions: list[str], *, rasa_listen: str, action_listen: str,
    access_log: str, max_body: str = DEFAULT_MAX_BODY,
) -> str:
    return fill(HTTP_TEMPLATE.read_text(encoding="utf-8"), {
        "rasa_servers": _servers(rasa), "action_servers": _servers(actions),
        "rasa_listen": rasa_listen, "action_listen": action_listen,
        "access_log": access_log, "max_body": max_body,
    })


def render_main(prefix: Path, http: str, workers: str = "auto") -> str:
    inner = "\n".join(f"    {line}" if line.strip() else "" for line in http.splitlines())
    return fill(MAIN_TEMPLATE.read_text(encoding="utf-8"), {"prefix": str(prefix), "http": inner, "workers": workers})


def write(prefix: Path, rasa: list[str], actions: list[str], *, rasa_listen: str, action_listen: str,
          max_body: str = DEFAULT_MAX_BODY, workers: str = "auto") -> Path:
    """Writes <prefix>/nginx.conf (prefix made absolute and created) and returns its path."""
    prefix = prefix.resolve()
    prefix.mkdir(parents=True, exist_ok=True)
    http = render_http(rasa, actions, rasa_listen=rasa_listen, action_listen=action_listen,
                       access_log=str(prefix / "access.log"), max_body=max_body)
    path = prefix / "nginx.conf"
    path.write_text(render_main(prefix, http, workers), encoding="utf-8")
    return path


def command(prefix: Path, binary: str | None = None) -> list[str]:
    """The argv that runs nginx in the foreground on <prefix>/nginx.conf."""
    binary = binary or nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx 未安装：运行 make nginx（Debian 的 nginx 软件包）")
    prefix = prefix.resolve()
    return [binary, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasa", action="append", required=True, help="a Rasa replica, host:port (repeat)")
    parser.add_argument("--action", action="append", required=True, help="an action-server replica, host:port (repeat)")
    parser.add_argument("--rasa-listen", required=True, help="where nginx takes Rasa's traffic, [host:]port")
    parser.add_argument("--action-listen", required=True, help="where nginx takes the action servers' traffic")
    parser.add_argument("--max-body", default=DEFAULT_MAX_BODY, help="client_max_body_size (default %(default)s)")
    parser.add_argument("--prefix", type=Path, help="write <prefix>/nginx.conf for an unprivileged nginx")
    parser.add_argument("--workers", default="auto", help="worker_processes (default %(default)s)")
    parser.add_argument("--http-only", action="store_true", help="print the http-level part (compose's conf.d)")
    parser.add_argument("--access-log", default="/dev/stdout", help="with --http-only (default %(default)s)")
    args = parser.parse_args(argv)
    if args.http_only:
        shown = " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
        sys.stdout.write(f"# GENERATED by `python -m bot.ops.proxy_config {shown}`\n"
                         f"# from deploy/nginx/govbot.conf.template: edit the template and run that again.\n\n")
        sys.stdout.write(render_http(args.rasa, args.action, rasa_listen=args.rasa_listen,
                                     action_listen=args.action_listen, access_log=args.access_log,
                                     max_body=args.max_body))
        return 0
    if args.prefix is None:
        parser.error("--prefix or --http-only")
    print(write(args.prefix, args.rasa, args.action, rasa_listen=args.rasa_listen, action_listen=args.action_listen,
                max_body=args.max_body, workers=args.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
