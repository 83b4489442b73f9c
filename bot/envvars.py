"""Numbers from environment variables, with one clear Chinese error for a bad value.

Operators set these by hand in systemd units, compose files and Kubernetes manifests; a typo must
stop the service with a message naming the variable, not fall back silently or raise a traceback.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional


def env_number(
    name: str,
    default: float,
    *,
    minimum: float = 0,
    integer: bool = False,
    environ: Optional[Mapping[str, str]] = None,
) -> float:
    """The value of `name` (default when unset or blank); ValueError in Chinese when it is not a
    number (a whole number when `integer`) or lies below `minimum`."""
    env = os.environ if environ is None else environ
    value = str(env.get(name, "")).strip()
    if not value:
        return default
    kind = "整数" if integer else "数字"
    try:
        number = int(value) if integer else float(value)
    except ValueError as exc:
        raise ValueError(f"环境变量 {name} 应为{kind}，当前为 {value!r}") from exc
    if number < minimum:
        raise ValueError(f"环境变量 {name} 不能小于 {minimum:g}，当前为 {value!r}")
    return number


def env_secret(name: str, *, environ: Optional[Mapping[str, str]] = None) -> str:
    """A secret from `name`, or from the file named by `name`_FILE (a mounted Secret, a 0600 file).

    Secrets never go on a command line, where `ps` shows them to every local user. Empty when
    neither is set; ValueError in Chinese when the file cannot be read or is empty.
    """
    env = os.environ if environ is None else environ
    value = str(env.get(name, "")).strip()
    if value:
        return value
    path = str(env.get(f"{name}_FILE", "")).strip()
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise ValueError(f"环境变量 {name}_FILE 指向的文件无法读取：{path}（{exc.strerror}）") from exc
    if not value:
        raise ValueError(f"环境变量 {name}_FILE 指向的文件是空的：{path}")
    return value
