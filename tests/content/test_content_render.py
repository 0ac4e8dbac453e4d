"""Section Markdown renders to safe HTML with numbered block ids."""

from __future__ import annotations

import re

from content.loader import load
from content.render import render_markdown


def test_script_is_escaped() -> None:
    html = render_markdown(
        "Hello <script>alert('x')</script>\n\n<script>alert(2)</script>\n\n<img src=x onerror=alert(1)>"
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html


def test_only_http_https_mailto_links() -> None:
    html = render_markdown(
        "[a](https://example.org) [b](mailto:help@example.org) [c](javascript:alert(1)) "
        "[d](data:text/html,hi) [e](vbscript:x) <javascript:alert(1)> [f](/relative)"
    )
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://example.org", "mailto:help@example.org"]
    assert 'rel="noopener noreferrer"' in html


def test_images_are_not_embedded() -> None:
    assert "<img" not in render_markdown("![tracker](https://example.org/pixel.png)")


def test_block_elements_get_ids_in_order() -> None:
    html = render_markdown("## Title\n\nOne **bold**.\n\n- a\n- b\n\n> quote\n", id_prefix="s3-")
    assert re.findall(r'<(\w+) id="([^"]+)"', html) == [
        ("h2", "s3-1"),
        ("p", "s3-2"),
        ("ul", "s3-3"),
        ("li", "s3-4"),
        ("li", "s3-5"),
        ("blockquote", "s3-6"),
        ("p", "s3-7"),
    ]


def test_every_shipped_summary_renders_safely() -> None:
    cs = load()
    for s in cs.sections():
        html = render_markdown(s.summary_md)
        assert 'id="p-1"' in html and "<script" not in html, s.id
    assert "<strong>" in render_markdown(cs.crisis_notice.body_md)
