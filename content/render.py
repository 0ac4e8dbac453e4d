"""Markdown -> safe HTML for section summaries and the crisis notice.

Raw HTML is escaped (html=False), images are disabled (no remote content in the page), and
only http(s)/mailto links survive. Every block element gets an id ("p-1", "p-2", ...) in
document order so a live session can mirror scrolling as (element id, fraction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

ALLOWED_SCHEMES = ("http://", "https://", "mailto:")
# Opening tokens that render as a block element which can carry an id.
_BLOCK_TOKENS = {
    "paragraph_open",
    "heading_open",
    "bullet_list_open",
    "ordered_list_open",
    "list_item_open",
    "blockquote_open",
    "table_open",
    "hr",
    "fence",
    "code_block",
}


def _valid_link(url: str) -> bool:
    return url.strip().lower().startswith(ALLOWED_SCHEMES)


def _number_blocks(state: StateCore) -> None:
    prefix = state.env.get("id_prefix", "p-")
    n = 0
    for tok in state.tokens:
        if tok.type in _BLOCK_TOKENS and not tok.hidden:  # hidden = <p> dropped in tight lists
            n += 1
            tok.attrSet("id", f"{prefix}{n}")


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer")
    html: str = self.renderToken(tokens, idx, options, env)
    return html


def _make() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = _valid_link  # type: ignore[method-assign]
    md.core.ruler.push("block_ids", _number_blocks)
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _make()


def render_markdown(text: str, id_prefix: str = "p-") -> str:
    """Render content Markdown to HTML that is safe to insert into a page unescaped."""
    html: str = _MD.render(text, {"id_prefix": id_prefix})
    return html
