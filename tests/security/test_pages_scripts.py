"""The pages keep to their Content-Security-Policy by construction: no inline script or
event handler in any template, and no page script writes markup from data."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "trunkdrop" / "web"


def test_templates_have_no_inline_script_or_handler() -> None:
    """Every <script> names a file served from /static; no on…= attribute, no javascript: URL."""
    for template in (WEB / "templates").glob("*.html"):
        html = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert re.search(r'src="/static/[^"]+"', tag), f"{template.name}: {tag}"
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), f"{template.name}: inline script"
        assert not re.search(r"\son[a-z]+\s*=", html), f"{template.name}: inline handler"
        assert "javascript:" not in html, template.name


def test_page_scripts_build_the_dom_without_markup_from_data() -> None:
    """The pages' own scripts never assign innerHTML/outerHTML or call document.write:
    text from the API (a parking note, a name) cannot become markup."""
    scripts = [*(WEB / "static").glob("*.js"), *(WEB / "static" / "widget").glob("*.js")]
    assert any(s.name == "checkout.js" for s in scripts)
    for script in scripts:
        source = script.read_text()
        assert not re.search(
            r"\.(inner|outer)HTML\s*=|document\.write|insertAdjacentHTML", source
        ), script.name
