"""What kind of file a path is, as far as scanning cares, written into the name the worker sees.

detect-secrets picks keyword patterns by extension, and a file whose extension it does not know
(`.env`, `credentials`, `.npmrc`) gets the code patterns, which need quotes: `DB_PASSWORD=hunter`
in a .env file was missed. The gate's filters (`filters`) and confidence (`confidence`) also
depend on the kind of file. Rather than passing the path, the parent reduces it to a pseudo
file name `<kind>/[test/]blob<ext>`; the worker and the scan cache depend on nothing else, so
two paths with the same pseudo name share cached results.

Kinds:
- config: settings and deployment files (.env*, *.ini, *.properties, YAML, TOML, JSON,
  Terraform, Dockerfile, shell scripts, credentials files): values need no quotes, and entropy
  and keyword findings count more ("medium");
- lock: dependency lock files (package-lock.json, yarn.lock, poetry.lock, go.sum, ...): full of
  integrity hashes, so only fixed-shape tokens are reported there (detect-secrets' own
  `is_lock_file` filter would skip the whole file; a gate must not let a name switch scanning
  off);
- code: everything else.
`test/` marks tests, fixtures, examples and documentation: findings there are one confidence
level lower (see `confidence`), never dropped.
"""

from __future__ import annotations

import posixpath
import re

LOCK_FILES = frozenset(
    {
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock",
        "pipfile.lock", "cargo.lock", "go.sum", "composer.lock", "gemfile.lock", "uv.lock",
        "pdm.lock", "bun.lock", "packages.lock.json", "flake.lock", "mix.lock", "pubspec.lock",
    }
)  # fmt: skip
# Names without a telling extension that hold settings: scanned with config (INI) patterns.
CONFIG_NAMES = frozenset(
    {
        "credentials", ".npmrc", ".pypirc", ".netrc", "_netrc", ".pgpass", ".git-credentials",
        ".htpasswd", "dockerfile", "containerfile", ".dockerenv", "env", "config",
        ".s3cfg", ".boto", ".my.cnf", "procfile",
    }
)  # fmt: skip
CONFIG_AS_INI = frozenset({".env", ".sh", ".bash", ".zsh", ".envrc", ".secrets", ".tfvars"})
CONFIG_EXTENSIONS = frozenset(
    {
        ".ini", ".cfg", ".cnf", ".conf", ".cf", ".properties", ".toml", ".yaml", ".yml", ".json",
        ".tf", ".hcl", ".xml", ".plist", ".eyaml",
    }
)  # fmt: skip
DOC_EXTENSIONS = frozenset({".md", ".rst", ".adoc"})
_TEST_DIRS = re.compile(
    r"(?:^|/)(?:tests?|testing|spec|specs|__tests__|__mocks__|mocks?|fixtures?|testdata|"
    r"test_data|examples?|samples?|docs?|documentation)/",
    re.IGNORECASE,
)
_TEST_FILES = re.compile(
    r"(?:^test_.*|.*_tests?\.\w+|.*\.(?:test|spec)\.\w+|conftest\.py|.*\.(?:example|sample))$",
    re.IGNORECASE,
)


def is_test_path(path: str) -> bool:
    """Tests, fixtures, examples and docs: where fake secrets are written on purpose."""
    name = posixpath.basename(path)
    ext = posixpath.splitext(name)[1].lower()
    return bool(_TEST_DIRS.search(path) or _TEST_FILES.match(name)) or ext in DOC_EXTENSIONS


def scan_name(path: str) -> str:
    """The pseudo file name the scanner worker sees for `path` (see the module docstring)."""
    name = posixpath.basename(path).lower()
    stem, ext = posixpath.splitext(name)
    if name in LOCK_FILES or ext == ".lock":
        kind, ext = "lock", ext
    elif ".env" in (name[:4], name[-4:], stem[:4]) or name in CONFIG_NAMES or ext in CONFIG_AS_INI:
        kind, ext = "config", ".ini"
    elif ext in CONFIG_EXTENSIONS:
        kind = "config"
    else:
        kind = "code"
    test = "test/" if is_test_path(path) else ""
    return f"{kind}/{test}blob{ext}"


def kind_of(pseudo: str) -> str:
    return pseudo.split("/", 1)[0]


def is_test_name(pseudo: str) -> bool:
    return "/test/" in pseudo
