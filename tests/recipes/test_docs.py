"""docs/testing.md's Recipes section quotes every recipe file whole, and quotes nothing else, so
the page shows exactly what the suite runs."""

import re
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parent.parent / "docs" / "testing.md"
FENCES = {".py": "python", ".ini": "ini"}
QUOTED = sorted(path for path in [*HERE.glob("test_*.py"), *(HERE / "nameko").iterdir()]
                if path.suffix in FENCES and path.name != "test_docs.py")


def recipes_section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Recipes\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def quote(path: Path) -> str:
    return f"```{FENCES[path.suffix]}\n{path.read_text()}```\n"


def test_every_recipe_file_is_quoted_whole():
    section = recipes_section()
    missing = [str(path.relative_to(HERE)) for path in QUOTED if quote(path) not in section]
    assert missing == [], "quote these files verbatim in docs/testing.md's Recipes section"


def test_every_quote_is_a_recipe_file():
    quotes = re.findall(r"^```(?:python|ini)\n.*?^```\n", recipes_section(), re.M | re.S)
    files = {quote(path) for path in QUOTED}
    assert [q.splitlines()[1] for q in quotes if q not in files] == []
