"""detect-secrets plugins for token formats detect-secrets 1.5.0 does not know.

Each module holds small `RegexBasedDetector` classes, one per format, loaded into detect-secrets
through its own custom-plugin mechanism (`plugins_used: [{"path": "file://..."}]`, see
`engine.configure`), so they run inside detect-secrets' line scan with its filters like the
built-in plugins. `PLUGIN_FILES` lists the modules; `base` holds what they share (checksums,
prefilter hints) and defines no plugin itself.
"""

from pathlib import Path

PLUGIN_FILES = tuple(
    str(Path(__file__).with_name(name)) for name in ("ai.py", "cloud.py", "devtools.py")
)


def plugin_names(path: str) -> list[str]:
    """Class names of the plugins in one of PLUGIN_FILES, read without importing it twice."""
    import ast

    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Detector")
    ]
