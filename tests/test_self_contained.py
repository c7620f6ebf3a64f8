"""The repository stands on its own: a fresh clone with nothing beside it runs the tests and
the demo, so no tracked file may read a path outside the checkout (a folder of notes that
some development machines keep beside it, or any parent of the repository root)."""

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve().relative_to(REPO_ROOT).as_posix()

# Spelled in pieces so this file does not match itself.
OUTSIDE_PATHS = [
    "../" + "shared",
    "shared" + "/data",
    "shared" + "/seeds",
    "parents" + "[3]",
    '.parent / "' + 'shared"',
]


def tracked_texts():
    """(path, text) of every file git tracks, binary files skipped."""
    names = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 - git from PATH, as the developer runs it
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, names):
        data = (REPO_ROOT / name).read_bytes()
        if b"\0" not in data:
            yield name, data.decode("utf-8", errors="replace")


def offending_lines(patterns, *, keep=lambda name: True):
    return [
        f"{name}:{number}: {line.strip()}"
        for name, text in tracked_texts()
        if name != THIS_FILE and keep(name)
        for number, line in enumerate(text.splitlines(), start=1)
        if any(re.search(pattern, line) for pattern in patterns)
    ]


CODE_SUFFIXES = (".py", ".html", ".sh", ".css", ".js", ".toml", ".yml", ".yaml", ".cfg")


def is_code_or_readme(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.endswith(CODE_SUFFIXES) or base in {"Makefile", "Dockerfile", "README.md"}


def test_git_lists_the_tracked_files():
    # The checks below are only as good as the listing they walk.
    names = dict(tracked_texts())
    assert THIS_FILE in names and "pyproject.toml" in names and len(names) > 100


def test_no_tracked_file_reads_a_path_outside_the_repository():
    assert offending_lines(map(re.escape, OUTSIDE_PATHS)) == []


def test_comments_cite_public_sources_not_files_outside_or_issue_numbers():
    # A reader of a clone has neither the reference notes beside the repository nor the
    # issue tracker: a rule cites its guideline, paper or standard, or a page under docs/.
    patterns = [
        "shared" + "/reference",
        r"\b(registry|trials|screening|security|style)" + r"\.md\b",
        r"\b[Ii]ssue" + r" #\d",
    ]
    assert offending_lines(patterns, keep=is_code_or_readme) == []


def test_the_docs_pages_comments_point_at_exist():
    cited = {
        match
        for name, text in tracked_texts()
        if is_code_or_readme(name)
        for match in re.findall(r"docs/[a-z-]+\.md", text)
    }
    names = dict(tracked_texts())
    assert cited and sorted(cited - names.keys()) == []


def test_the_data_the_tests_and_the_demo_read_is_tracked():
    names = dict(tracked_texts())
    assert "seeds/nordic-cancer-collaboration-overview.txt" in names
    records = [n for n in names if n.startswith("trials/demo_data/ctgov/")]
    assert len([n for n in records if n.count("/") == 3 and n.endswith(".json")]) == 14
    assert "trials/demo_data/ctgov/README.md" in records  # names the public sources
