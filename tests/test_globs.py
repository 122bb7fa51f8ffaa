import pytest

from gitgate.globs import match, match_any


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (".github/workflows/**", ".github/workflows/ci.yml", True),
        (".github/workflows/**", ".github/workflows/sub/x.yml", True),
        (".github/workflows/**", ".github/ci.yml", False),
        ("deploy/**", "deploy/prod.yaml", True),
        ("deploy/**", "src/deploy/prod.yaml", False),
        ("*.tf", "main.tf", True),
        ("*.tf", "infra/prod/main.tf", True),  # no slash: any depth, like .gitignore
        ("*.tf", "main.tf.bak", False),
        ("refs/heads/*", "refs/heads/main", True),
        ("refs/heads/*", "refs/heads/feature/x", False),  # * stays within a segment
        ("refs/heads/**", "refs/heads/feature/x", True),
        ("acme/*", "acme/app", True),
        ("acme/*", "other/app", False),
        ("**", "anything/at/all", True),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/a/b/test_a.py", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("file[1].txt", "file[1].txt", True),  # brackets are literal, not classes
    ],
)
def test_match(pattern: str, value: str, expected: bool) -> None:
    assert match(pattern, value) is expected


def test_match_any_returns_the_pattern() -> None:
    assert match_any(["*.md", "deploy/**"], "deploy/x") == "deploy/**"
    assert match_any(["*.md"], "x.py") is None
