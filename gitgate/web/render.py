"""Templates (Jinja2, autoescaped) and diff highlighting (Pygments, server-side).

Autoescaping is on for every template: anything an agent wrote (commit messages, paths, a
diff) reaches the page only escaped. The one piece of markup not written by a template is the
highlighted diff, and Pygments escapes the text it wraps in its spans.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

_FORMATTER = HtmlFormatter(cssclass="diff", nowrap=False)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("gitgate.web", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["diff"] = highlight_diff
    env.filters["short"] = lambda value, n=12: (value or "")[:n]
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def highlight_diff(text: str) -> Markup:
    # Pygments escapes the diff's text itself; its output is trusted markup.
    return Markup(highlight(text or "", DiffLexer(), _FORMATTER))  # noqa: S704


@cache
def diff_css() -> str:
    return str(_FORMATTER.get_style_defs(".diff"))
