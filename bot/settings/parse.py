"""The one environment parser: each setting is declared once, read when the caller asks.

A setting is a dataclass field made by `env_var(NAME, default, 说明, …)`: the variable's name, its
default (whose type is the setting's type unless `kind` says otherwise), the Chinese description
that deploy/govbot.env.example and the README carry, and the checks of its value. `Area.from_env()`
reads every field of an area from `os.environ` (or the mapping given) at call time, never at import:
tests and subprocesses set variables per process and per test.

Operators set these by hand in systemd units, compose files and Kubernetes manifests; a bad value
stops the service with one Chinese message naming the variable, not a silent fallback or a traceback.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional

METADATA_KEY = "govbot_env"
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Variable:
    """One environment variable: how it is read and how it is documented."""

    name: str
    default: Any
    doc: str
    kind: type = str
    minimum: Optional[float] = None
    choices: tuple[str, ...] = ()
    secret: bool = False  # also read from the file named by NAME_FILE
    example: Optional[str] = None  # its line in deploy/govbot.env.example; None: not listed there
    keep_blanks: bool = False  # the value exactly as set, even blank (prompts end with a space)

    def raw(self, environ: Optional[Mapping[str, str]] = None) -> str:
        """The text set for this variable ('' when unset or blank); a secret may come from NAME_FILE."""
        env = os.environ if environ is None else environ
        value = str(env.get(self.name, "") or "").strip()
        if value or not self.secret:
            return value
        path = str(env.get(f"{self.name}_FILE", "")).strip()
        if not path:
            return ""
        try:
            with open(path, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise ValueError(f"环境变量 {self.name}_FILE 指向的文件无法读取：{path}（{exc.strerror}）") from exc
        if not value:
            raise ValueError(f"环境变量 {self.name}_FILE 指向的文件是空的：{path}")
        return value

    def read(self, environ: Optional[Mapping[str, str]] = None) -> Any:
        """The typed value, the default when unset or blank; ValueError in Chinese naming the variable."""
        if self.keep_blanks:
            env = os.environ if environ is None else environ
            return str(env[self.name]) if self.name in env else self.default
        value = self.raw(environ)
        if value == "":
            return self.default
        if self.kind is bool:
            return value.lower() not in FALSE_WORDS
        if self.kind is Path:
            return Path(value).expanduser()
        if self.kind in (int, float):
            return self._number(value)
        if self.choices:
            value = value.lower()
            if value not in self.choices:
                raise ValueError(f"环境变量 {self.name} 应为 {' 或 '.join(self.choices)}，当前为 {value!r}")
        return value

    def _number(self, value: str) -> float:
        integer = self.kind is int
        try:
            number = int(value) if integer else float(value)
        except ValueError as exc:
            raise ValueError(f"环境变量 {self.name} 应为{'整数' if integer else '数字'}，当前为 {value!r}") from exc
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"环境变量 {self.name} 不能小于 {self.minimum:g}，当前为 {value!r}")
        return number


def env_var(
    name: str,
    default: Any,
    doc: str,
    *,
    kind: Optional[type] = None,
    minimum: Optional[float] = None,
    choices: tuple[str, ...] = (),
    secret: bool = False,
    example: Optional[str] = None,
    keep_blanks: bool = False,
) -> Any:
    """A dataclass field read from environment variable `name` (see the module docstring)."""
    if kind is None:
        kind = type(default) if default is not None else str
        if issubclass(kind, Path):
            kind = Path
    variable = Variable(name, default, doc, kind, minimum, choices, secret, example, keep_blanks)
    return dataclasses.field(default=default, metadata={METADATA_KEY: variable})


class Area:
    """Base of the settings of one area: a frozen dataclass whose `env_var` fields say where they come from."""

    title: ClassVar[str] = ""  # the area's heading in deploy/govbot.env.example

    @classmethod
    def variables(cls) -> list[Variable]:
        return [f.metadata[METADATA_KEY] for f in dataclasses.fields(cls) if METADATA_KEY in f.metadata]

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **given: Any):
        """The area as the environment (or `environ`) sets it; `given` values win (command-line options)."""
        values = {
            f.name: f.metadata[METADATA_KEY].read(environ)
            for f in dataclasses.fields(cls)
            if METADATA_KEY in f.metadata and f.name not in given
        }
        return cls(**values, **given)

    @classmethod
    def variable(cls, field_name: str) -> Variable:
        [found] = [f.metadata[METADATA_KEY] for f in dataclasses.fields(cls) if f.name == field_name]
        return found

    @classmethod
    def read(cls, field_name: str, environ: Optional[Mapping[str, str]] = None) -> Any:
        """One setting, for a reader that needs only it: a service reads only its own secrets' files."""
        return cls.variable(field_name).read(environ)


def env_secret(name: str, *, environ: Optional[Mapping[str, str]] = None) -> str:
    """A secret from `name` or the file named by `name`_FILE; '' when neither is set (a one-off read).

    Secrets never go on a command line, where `ps` shows them to every local user.
    """
    return Variable(name, "", "", secret=True).read(environ)
