"""The docs as a reference (issue 59): every relative link of the README and
docs/ leads to a file, the README stays a front door, and no reference page
(docs/*.md; the dated studies are docs/studies/) runs over 600 lines."""

from __future__ import annotations

import re

import pytest

from tests import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file(page):
    missing = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor of the page itself
        path = target.split("#")[0]
        if not (page.parent / path).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to missing {missing}"


def test_the_readme_and_the_reference_pages_keep_their_sizes():
    assert len((ROOT / "README.md").read_text().splitlines()) < 130
    assert len((ROOT / "docs" / "ippo.md").read_text().splitlines()) < 500
    long = {
        page.name: n
        for page in (ROOT / "docs").glob("*.md")
        if (n := len(page.read_text().splitlines())) > 600
    }
    assert not long, f"reference pages over 600 lines (move studies out): {long}"
