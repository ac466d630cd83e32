"""Every relative link in README.md and docs/*.md leads to a file that exists, and to a heading
of it when the link names one (GitHub's anchors: lower case, punctuation dropped, spaces to -)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    out = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        if fenced or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        out.add(slug)
    return out


def test_relative_links_resolve() -> None:
    problems = []
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in _LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            where = f"{doc.relative_to(REPO)}: ({target})"
            if not path.exists():
                problems.append(f"{where}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                problems.append(f"{where}: no heading #{anchor}")
    assert not problems, "\n".join(problems)


def test_a_missing_heading_is_found(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Bundles after the decision\n\n## The `lmops` CLI\n")
    assert anchors(tmp_path / "a.md") == {"bundles-after-the-decision", "the-lmops-cli"}


def test_no_doc_names_a_folder_of_the_machine_it_was_written_on() -> None:
    """Commands in the docs run from a fresh clone: none may ``cd`` into our own checkout."""
    readmes = [*DOCS, *sorted(REPO.glob("plugins/*/README.md"))]
    found = [
        f"{doc.relative_to(REPO)}:{number}: {line.strip()}"
        for doc in readmes
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if "/work/" in line
    ]
    assert not found, "\n".join(found)
