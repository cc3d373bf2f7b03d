"""Model replies rendered as the user saw them: markdown to HTML, then sanitised.

Two maintained libraries, each doing one job: markdown-it-py (CommonMark, plus GFM tables and
strikethrough) turns the text into HTML with raw HTML *disabled*, so a ``<script>`` in a reply
is shown as text; nh3 (the Ammonia sanitiser) then keeps only an allow-list of tags and
attributes and only http(s)/mailto links, as a second wall in case the renderer ever lets markup
through. Images are never loaded (a model's reply must not make the rater's browser fetch
anything); their alt text is shown instead. The page's Content-Security-Policy is the third wall.
"""

from __future__ import annotations

import html
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
                "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "span"}
# No style attributes: the CSP refuses inline styles anyway.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}, "span": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    def image(_self: Any, tokens: list[Any], idx: int, _options: Any, _env: Any) -> str:
        alt = "".join(t.content for t in (tokens[idx].children or []))
        return f'<span class="md-image">[image: {html.escape(alt or "no description")}]</span>'

    md.add_render_rule("image", image)
    return md


_MD = _parser()


def render_markdown(text: str) -> Markup:
    """Sanitised HTML of ``text`` read as markdown (safe to put in a page as it is)."""
    raw = _MD.render(text)
    clean = nh3.clean(raw, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    return Markup(clean)  # noqa: S704 - sanitised just above
