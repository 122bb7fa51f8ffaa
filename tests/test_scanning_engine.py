"""The engine in this process (no worker pool), and its prefilter's exactness.

The prefilter is exact: scanning with it finds what scanning every line finds, no more, no
less. The corpus: planted secrets of every plugin type, embedded the way .py/.yaml/.ini/.env/
.js/.go files write them, letters that only match case-insensitively (long s, Kelvin sign),
random noise built from the plugins' own fragments, and detect-secrets' own source (real code
full of keywords and regexes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
from pathlib import Path

import detect_secrets
import pytest

from gitgate.scanning import ScanError, engine
from gitgate.scanning.hints import UnsupportedPlugin, min_entropy_length
from gitgate.scanning.prefilter import Prefilter, fold_table
from gitgate.scanning.scanner import split_lines
from tests.fixtures import secret_corpus

ALNUM = string.ascii_letters + string.digits
WORD = ALNUM + "_-"
LOWER_DIGITS = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def _r(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def part(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    header = rng.choice([{"alg": "HS256"}, {"typ": "JWT"}, {"kid": _r(rng, 4)}])
    return ".".join([part(header), part({"sub": _r(rng, 8)}), _r(rng, 43, WORD)])


def tokens(rng: random.Random) -> list[str]:
    """A fresh value for every fixed-shape plugin (assembled here, not written in the source)."""
    return [
        "AKC" + _r(rng, 12),
        "AP" + rng.choice("0123456789ABCDEF") + _r(rng, 10),
        "AK" + "IA" + _r(rng, 16, string.ascii_uppercase + string.digits),
        "AccountKey=" + _r(rng, 88, B64),
        "https://deploy:" + _r(rng, 12) + "@example.com/x",
        "https://acct:" + _r(rng, 24, string.ascii_lowercase) + "@acct.clou" + "dant.com",
        rng.choice("MNO") + _r(rng, 23, WORD) + "." + _r(rng, 6, WORD) + "." + _r(rng, 27, WORD),
        "gh" + rng.choice("pousr") + "_" + _r(rng, 36),
        "gl" + "pat-" + _r(rng, 20),
        "GR1348" + "941" + _r(rng, 24, WORD),
        f"{rng.randrange(11, 99)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        _jwt(rng),
        _r(rng, 32, LOWER_DIGITS) + "-us" + str(rng.randrange(1, 20)),
        "//registry.npmjs.org/:_auth" + "Token=npm_" + _r(rng, 36),
        "sk-" + _r(rng, 20) + "T3Blb" + "kFJ" + _r(rng, 20),
        "-----BEGIN " + rng.choice(["RSA ", "EC ", "OPENSSH ", ""]) + "PRIVATE KEY-----",
        "PuTTY-User-" + "Key-File-2: ssh-rsa",
        "pypi-AgEIcHlwaS5v" + "cmc" + _r(rng, 80, WORD),
        "SG." + _r(rng, 22, WORD) + "." + _r(rng, 43, WORD),
        "xo" + "xp-" + _r(rng, 11, string.digits) + "-" + _r(rng, 24, LOWER_DIGITS),
        "https://hooks.slack.com/ser" + f"vices/T{_r(rng, 9)}/B{_r(rng, 9)}/{_r(rng, 24)}",
        "https://api.softlayer.com/soap/v3/" + _r(rng, 64, LOWER_DIGITS),
        "sq0c" + "sp-" + _r(rng, 43, WORD),
        rng.choice("sr") + "k_" + "live_" + _r(rng, 24),
        str(rng.randrange(10**8, 10**9)) + ":" + _r(rng, 35, WORD),
        rng.choice(["AC", "SK"]) + _r(rng, 32, LOWER_DIGITS),
        # gitgate's own detectors: every vendor format of the labelled corpus, and the ones
        # that need context around the value.
        *(make() for make in secret_corpus._formats(rng).values()),
        "Authorization: Bearer " + _r(rng, 40, WORD),
        "-----BEGIN ENCRYPTED " + "PRIVATE KEY-----",
        "password " + _r(rng, 14),  # a .netrc line
        "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo" + _r(rng, 60, B64),  # base64 of a PEM key
        "redis://default:" + _r(rng, 10) + "!" + _r(rng, 4) + "@cache.internal:6379/0",
        "jdbc:mysql://db/app?user=app&password=" + _r(rng, 12),
        "DD_APP_KEY=" + _r(rng, 40, HEX),
        '"auth": "' + base64.b64encode(f"ci:{_r(rng, 12)}".encode()).decode() + '"',
    ]


def assignments(rng: random.Random) -> list[tuple[str, str]]:
    """(name, value) pairs the keyword-shaped plugins report."""
    return [
        ("aws_secret_access_key", _r(rng, 40, B64)),
        ("cloudant_password", _r(rng, 64, HEX)),
        ("cl_api_key", _r(rng, 24, string.ascii_lowercase)),
        ("ibm_cloud_iam_api_key", _r(rng, 44, WORD)),
        ("cos_hmac_secret_access_key", _r(rng, 48, HEX)),
        ("softlayer_api_key", _r(rng, 64, LOWER_DIGITS)),
        ("password", "Hunter2-" + _r(rng, 8)),
        ("db_pass", _r(rng, 12)),
        ("\u017fecret", _r(rng, 12)),  # long s: IGNORECASE matches it as "s"
        ("api_\u212aey", _r(rng, 12)),  # Kelvin sign: matches "k"
        ("PR\u0130VATE_KEY", _r(rng, 12)),  # dotted capital I: matches "i"
        ("CONTRASEÑA", _r(rng, 12)),
        ("checksum", _r(rng, 40, B64)),
        ("digest", _r(rng, 40, HEX)),
        # Right at the entropy limits: n distinct characters have entropy log2(n).
        ("b64_23", "".join(rng.sample(ALNUM, 23))),
        ("hex_9", "".join(rng.sample("abcdef", 3) + rng.sample("123456789", 6))),
        ("cloud_iam_token", _r(rng, 44, WORD)),
        ("session_token", _r(rng, 30, B64)),  # IBM's keywords without a keyword-plugin word
    ]


def mangle(rng: random.Random, text: str) -> str:
    """Random upper/lower case: only IGNORECASE plugins still match."""
    return "".join(c.swapcase() if rng.random() < 0.3 else c for c in text)


FLAVOURS = {  # extension -> ways that file type writes "name = value"
    ".py": ['{n} = "{v}"', "{n} = '{v}'", 'call({n}="{v}")', 'if {n} == "{v}":', "# {n} {v}"],
    ".yaml": ["{n}: {v}", '{n}: "{v}"', "  - {n}: '{v}'"],
    ".ini": ["{n} = {v}", "{n}={v}"],
    ".env": ["{N}={v}", 'export {N}="{v}"'],
    ".js": ['const {n} = "{v}";', "  {n}: '{v}',", 'headers["{n}"] = `{v}`;'],
    ".go": ['{n} := "{v}"', 'var {n} = "{v}"', 'cfg.Set("{n}", "{v}")'],
}

NOISE = [
    "password", "secret", "api_key", "aws", "key", "token", "cl", "sl", "AKIA", "ghp_", "xoxb-",
    "eyJ", "-us", "://", "@", "sk_live_", "k_live_", "softlayer", "cloudant", "T3BlbkFJ",
    "=", "==", ":", ":=", "=>", '"', "'", "`", " ", "  ", "\t", "(", ")", "[", "]", "{", "}", ",",
    ";", ".", "/", "-", "_", "$", "\u017f", "\u212a", "\u0130", "\u0131", "Ñ", "ñ", "\x0b",
    "\x0c", "\r", "\u2028", "\x85", "é", "1.2.3.4", "8.8.8.8:53",
]  # fmt: skip


def noise_line(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randrange(3, 25)):
        roll = rng.random()
        if roll < 0.55:
            parts.append(rng.choice(NOISE))
        elif roll < 0.8:
            parts.append(_r(rng, rng.randrange(1, 60), rng.choice([B64, HEX, WORD, LOWER_DIGITS])))
        else:
            parts.append(rng.choice(tokens(rng)) if roll > 0.97 else _r(rng, 6, string.digits))
    return "".join(parts)


def corpus() -> list[tuple[str, str]]:
    """(filename, text) pairs; seeded, so every run checks the same corpus."""
    rng = random.Random(20240501)
    files = []
    for ext, shapes in FLAVOURS.items():
        lines = ["# generated", "import os", "def f(x):", "    return x  "]
        for value in tokens(rng):
            lines.append(rng.choice(shapes).format(n="value", N="VALUE", v=value))
            lines.append(value + rng.choice(["", " ", "\t", "\r"]))
        for name, value in assignments(rng):
            for shape in shapes:
                lines.append(shape.format(n=name, N=name.upper(), v=value))
        lines.extend([mangle(rng, line) for line in lines])
        files.append(("blob" + ext, "\n".join(lines)))
    for ext in [*FLAVOURS, ".txt", ""]:
        files.append(("blob" + ext, "\n".join(noise_line(rng) for _ in range(400))))
    package = Path(detect_secrets.__file__).parent
    for path in sorted(package.rglob("*.py")):
        files.append(("blob.py", path.read_text(encoding="utf-8")))
    return files


def test_prefilter_is_exact_over_the_corpus() -> None:
    found_types: set[str] = set()
    for filename, text in corpus():
        fast = sorted(engine.scan_text(text, filename))
        full = sorted(engine.scan_text(text, filename, prefilter=False))
        assert fast == full, filename
        found_types.update(kind for kind, *_ in full)
    every_plugin = {type(p).secret_type for p in engine.configure().plugins}
    # The default filter is_not_alphanumeric_string (a secret has a letter) drops every IPv4.
    assert found_types == every_plugin - {"Public IP (ipv4)"}  # every other plugin exercised


def test_every_hint_is_a_necessary_condition() -> None:
    """Per plugin: a line the plugin reports anything on is a candidate for that plugin.

    Stronger than the comparison above, where a line another plugin let through hides a
    plugin whose hints missed it.
    """
    configured = engine.configure()
    assert configured.prefilter is not None
    for filename, text in corpus():
        stripped = [line.rstrip() for line in text.split("\n")]
        candidates = configured.prefilter.candidates(stripped)
        for index, line in enumerate(stripped):
            for number, plugin in enumerate(configured.plugins):
                if plugin.analyze_line(filename=filename, line=line, line_number=0):
                    assert number in candidates.get(index, ()), (type(plugin).__name__, line)


def test_prefilter_is_enabled_and_selective() -> None:
    prefilter = engine.configure().prefilter
    assert prefilter is not None
    lines = Path(engine.__file__).read_text(encoding="utf-8").split("\n")
    assert len(prefilter.lines_to_scan(lines, "blob.py")) < len(lines) / 20


def test_findings_on_lines_detect_secrets_filters_by_default() -> None:
    key_id = "AK" + "IA" + "Q" * 4 + "ZXCV7BNM2LKJ"
    line = f'client = boto3.client("s3", aws_access_key_id="{key_id}")'
    assert [kind for kind, *_ in engine.scan_text(line, "blob.py")] == ["AWS Access Key"]
    pragma = "pass" + 'word = "Hunter2-abcdef"  # pragma: allowlist secret'
    assert [kind for kind, *_ in engine.scan_text(pragma, "blob.py")] == ["Secret Keyword"]


def test_hash_covers_the_whole_token_not_the_captured_prefix() -> None:
    rng = random.Random(7)
    first, second = ("gh" + "p_" + _r(rng, 36) for _ in range(2))
    hits = engine.scan_text(f'tokens = ["{first}", "{second}"]', "blob.py")
    github = {digest for kind, _, digest, *_ in hits if kind == "GitHub Token"}
    assert github == {hashlib.sha1(t.encode()).hexdigest() for t in (first, second)}
    # Where the captured group is the secret inside a longer match, it stays the secret.
    hits = engine.scan_text('url = "https://deploy:' + "Hunter2-xyz@example.com/x" + '"', "x.py")
    assert ("Basic Auth Credentials", 1, hashlib.sha1(b"Hunter2-xyz").hexdigest()) in {
        hit[:3] for hit in hits
    }


def test_worker_errors_carry_no_content() -> None:
    token = "gh" + "p_" + "x" * 36
    with pytest.raises(ScanError) as caught:
        engine.scan_task([(0, "blob.py", 1, token)])  # type: ignore[list-item]  # not bytes
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_line_numbers_follow_newlines_only() -> None:
    text = "a\x0cb\r\nc\u2028d\n" + "pass" + 'word = "Hunter2-abcdef"'
    assert [line for _, line, *_ in engine.scan_text(text, "blob.py")] == [3]
    assert [line for _, line, *_ in engine.scan_text(text, "blob.py", 41)] == [43]


def test_fold_table_covers_what_ignorecase_matches() -> None:
    table = fold_table("abcdefghijklmnopqrstuvwxyzñ")
    assert table[0x017F] == "s"
    assert table[0x212A] == "k"
    assert table[0x0130] == "i"
    assert table[0x0131] == "i"
    assert table[ord("Ñ")] == "ñ"
    assert table[ord("Q")] == "q"


def test_min_entropy_length() -> None:
    assert min_entropy_length(4.5) == 23  # log2(22) < 4.5 < log2(23)
    assert min_entropy_length(3.0) == 8  # log2(8) == 3.0: kept, rounding could tip it over


def test_unknown_plugin_disables_the_prefilter() -> None:
    class HomeMadeDetector:
        secret_type = "Home made"

    with pytest.raises(UnsupportedPlugin):
        Prefilter([HomeMadeDetector()])


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
def test_split_lines_keeps_lines_whole_and_numbered(size: int) -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 200)) + b"tail"
    pieces = list(split_lines(data, size))
    assert b"\n".join(piece for _, piece in pieces) == data
    for first, piece in pieces:
        assert piece.split(b"\n")[0] == (b"line %d" % first if first < 200 else b"tail")
