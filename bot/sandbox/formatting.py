"""Formatted message text: HTML and MarkdownV2 (and legacy Markdown) to plain text + entities.

Telegram parses the formatting of a message, stores the plain text with a list of entities
(offsets and lengths in UTF-16 code units), and refuses text it cannot parse with
``Bad Request: can't parse entities: ...``. The parsers here follow Telegram's rules closely
enough to catch what bots actually get wrong: unsupported HTML tags (``<br>``, ``<p>``),
unclosed tags, and MarkdownV2 reserved characters that were not escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.errors import ApiError, bad_request

_BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")
_HTML_ENTITY = re.compile(r"&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});")
_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


@dataclass(slots=True)
class ParsedText:
    """Plain text as the user sees it and the entities that format it."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _entity_error(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


class _Builder:
    """Collect plain text and open/closed entities, measuring offsets in UTF-16."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += utf16_len(text)

    def close(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> ParsedText:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.parts), ordered)


def parse_html(source: str) -> ParsedText:
    """Parse Telegram's HTML subset into plain text and entities."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, Any], int]] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "<":
            end = source.find(">", i)
            if end == -1:
                raise _entity_error(f"Unclosed start tag at byte offset {_byte_offset(source, i)}")
            inner = source[i + 1 : end].strip()
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack or stack[-1][0] != name:
                    expected = f'"</{stack[-1][0]}>"' if stack else "no end tag"
                    raise _entity_error(
                        f"Unmatched end tag at byte offset {_byte_offset(source, i)}, "
                        f'expected {expected}, found "</{name}>"'
                    )
                tag, start, attrs, _ = stack.pop()
                _close_html(out, tag, start, attrs, stack)
            else:
                name, _, rest = inner.partition(" ")
                name = name.lower().rstrip("/")
                attrs = dict(re.findall(r'([a-zA-Z-]+)\s*=\s*["\']([^"\']*)["\']', rest))
                if name not in _HTML_TAGS or (
                    name == "span" and attrs.get("class") != "tg-spoiler"
                ):
                    raise _entity_error(
                        f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, i)}'
                    )
                if name == "blockquote" and re.search(r"\bexpandable\b", rest):
                    attrs["expandable"] = "1"
                stack.append((name, out.pos, attrs, i))
            i = end + 1
        elif char == "&":
            match = _HTML_ENTITY.match(source, i)
            if match:
                decoded = html.unescape(match.group(0))
                out.add(decoded)
                i = match.end()
            else:
                out.add(char)
                i += 1
        else:
            end = i
            while end < len(source) and source[end] not in "<&":
                end += 1
            out.add(source[i:end])
            i = end
    if stack:
        tag, _, _, where = stack[-1]
        raise _entity_error(
            f'Can\'t find end tag corresponding to start tag "{tag}" at byte offset '
            f"{_byte_offset(source, where)}"
        )
    return out.result()


def _close_html(
    out: _Builder,
    tag: str,
    start: int,
    attrs: dict[str, Any],
    stack: list[tuple[str, int, dict[str, Any], int]],
) -> None:
    kind = _HTML_TAGS[tag]
    if kind == "text_link":
        out.close("text_link", start, url=attrs.get("href", ""))
    elif kind == "custom_emoji":
        out.close("custom_emoji", start, custom_emoji_id=attrs.get("emoji-id", ""))
    elif kind == "code" and stack and stack[-1][0] == "pre":
        language = str(attrs.get("class", ""))
        if language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
        else:
            out.close("code", start)
    elif kind == "pre":
        extra = {"language": attrs["language"]} if attrs.get("language") else {}
        out.close("pre", start, **extra)
    elif kind == "blockquote" and attrs.get("expandable"):
        out.close("expandable_blockquote", start)
    else:
        out.close(kind, start)


_MDV2_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
}
_MDV2_KINDS = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}


def parse_markdown_v2(source: str) -> ParsedText:
    """Parse MarkdownV2 into plain text and entities, refusing unescaped reserved characters."""
    out = _Builder()
    stack: list[tuple[str, int, int]] = []
    i = 0
    at_line_start = True
    quote_start: int | None = None
    while i < len(source):
        char = source[i]
        if at_line_start:
            if char == ">":
                if quote_start is None:
                    quote_start = out.pos
                i += 1
                at_line_start = False
                continue
            if quote_start is not None:
                out.close("blockquote", quote_start)
                quote_start = None
        at_line_start = False
        if char == "\\":
            if i + 1 < len(source) and 1 <= ord(source[i + 1]) <= 126:
                out.add(source[i + 1])
                i += 2
                continue
            out.add(char)
            i += 1
            continue
        if char == "`":
            i = _markdown_code(source, i, out)
            continue
        token = source[i : i + 2] if source[i : i + 2] in ("__", "||") else char
        if token in _MDV2_KINDS:
            if stack and stack[-1][0] == token:
                _, start, _ = stack.pop()
                out.close(_MDV2_KINDS[token], start)
            else:
                stack.append((token, out.pos, i))
            i += len(token)
            continue
        if char == "[":
            stack.append(("[", out.pos, i))
            i += 1
            continue
        if char == "]" and stack and stack[-1][0] == "[":
            _, start, where = stack.pop()
            if not source.startswith("(", i + 1):
                raise _entity_error(
                    "Can't find end of TextUrl entity at byte offset "
                    f"{_byte_offset(source, where)}"
                )
            url, i = _markdown_url(source, i + 2)
            out.close("text_link", start, url=url)
            continue
        if char in _MDV2_RESERVED:
            raise _entity_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        if char == "\n":
            at_line_start = True
        i += 1
    if quote_start is not None:
        out.close("blockquote", quote_start)
    if stack:
        token, _, where = stack[-1]
        raise _entity_error(
            f"Can't find end of {_MDV2_NAMES[token]} entity at byte offset "
            f"{_byte_offset(source, where)}"
        )
    return out.result()


def _markdown_code(source: str, i: int, out: _Builder) -> int:
    """Read inline code or a pre block starting at ``source[i] == '`'``; return the end."""
    fence = "```" if source.startswith("```", i) else "`"
    j = i + len(fence)
    language = ""
    if fence == "```":
        newline = source.find("\n", j)
        first_line = source[j:newline] if newline != -1 else ""
        if newline != -1 and re.fullmatch(r"[\w+-]*", first_line):
            language = first_line
            j = newline + 1
    start = out.pos
    while j < len(source):
        if source[j] == "\\" and j + 1 < len(source):
            out.add(source[j + 1])
            j += 2
            continue
        if source.startswith(fence, j):
            if fence == "```":
                out.close("pre", start, **({"language": language} if language else {}))
            else:
                out.close("code", start)
            return j + len(fence)
        out.add(source[j])
        j += 1
    kind = "Pre" if fence == "```" else "Code"
    raise _entity_error(
        f"Can't find end of {kind} entity at byte offset {_byte_offset(source, i)}"
    )


def _markdown_url(source: str, i: int) -> tuple[str, int]:
    """Read a link target up to its closing parenthesis; return it and the index after."""
    url: list[str] = []
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            url.append(source[i + 1])
            i += 2
            continue
        if char == ")":
            return "".join(url), i + 1
        url.append(char)
        i += 1
    raise _entity_error("Can't find end of a URL")


def parse_markdown(source: str) -> ParsedText:
    """Parse legacy Markdown (``*bold*``, ``_italic_``, ``` `code` ```, ``[text](url)``)."""
    out = _Builder()
    i = 0
    kinds = {"*": "bold", "_": "italic"}
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source) and source[i + 1] in "_*`[":
            out.add(source[i + 1])
            i += 2
        elif char in kinds:
            end = source.find(char, i + 1)
            if end == -1:
                raise _entity_error(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(source, i)}"
                )
            start = out.pos
            out.add(source[i + 1 : end])
            out.close(kinds[char], start)
            i = end + 1
        elif char == "`":
            i = _markdown_code(source, i, out)
        elif char == "[":
            close = source.find("](", i)
            end = source.find(")", close) if close != -1 else -1
            if close == -1 or end == -1:
                raise _entity_error(
                    "Can't find end of the entity starting at byte offset "
                    f"{_byte_offset(source, i)}"
                )
            start = out.pos
            out.add(source[i + 1 : close])
            out.close("text_link", start, url=source[close + 2 : end])
            i = end + 1
        else:
            out.add(char)
            i += 1
    return out.result()


def parse_text(text: str, parse_mode: str | None, entities: Any = None) -> ParsedText:
    """Return what the user sees for ``text`` sent with ``parse_mode`` or explicit entities."""
    if parse_mode is not None and parse_mode != "":
        mode = parse_mode.lower()
        if mode == "html":
            return parse_html(text)
        if mode == "markdownv2":
            return parse_markdown_v2(text)
        if mode == "markdown":
            return parse_markdown(text)
        raise bad_request(f"unsupported parse_mode {parse_mode!r}")
    if entities is None:
        return ParsedText(text, [])
    if not isinstance(entities, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("offset"), int)
        and isinstance(e.get("length"), int)
        for e in entities
    ):
        raise bad_request(
            'parameter "entities" must be an array of objects with type, offset and length'
        )
    size = utf16_len(text)
    for entity in entities:
        if entity["offset"] < 0 or entity["offset"] + entity["length"] > size:
            raise bad_request("can't parse entities: entity is out of the text bounds")
    return ParsedText(text, list(entities))


def command_entities(text: str) -> list[dict[str, Any]]:
    """Return the bot_command entities a Telegram client marks in text a user types."""
    found = []
    for match in _BOT_COMMAND.finditer(text):
        found.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return found
