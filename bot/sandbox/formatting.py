"""Message text the way Telegram stores it: plain text plus entities.

``parse_mode`` text is turned into text and ``MessageEntity`` dicts (offsets and lengths in
UTF-16 code units, as the Bot API counts them); mistakes are refused with Telegram's own
``can't parse entities`` descriptions. Users' text gets the entities a Telegram client would
detect: bot commands, @mentions and links.
"""

from __future__ import annotations

import html
import re

__all__ = [
    "EntityParseError",
    "detect_entities",
    "parse_text",
    "strip_text",
    "utf16_len",
]


class EntityParseError(ValueError):
    """The text cannot be parsed in its ``parse_mode``; the message is Telegram's."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


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
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Builder:
    """Collects output text and entities while a parser walks the source."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0  # in UTF-16 code units
        self.entities: list[dict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def close(self, entity: dict, start: int) -> None:
        if self.length > start:
            entity.update(offset=start, length=self.length - start)
            self.entities.append(entity)

    def result(self) -> tuple[str, list[dict]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


def _html_entity(name: str, attrs: dict[str, str], stack: list) -> dict | None:
    kind = _HTML_TAGS[name]
    if name == "span" and attrs.get("class") != "tg-spoiler":
        return None  # a plain span is allowed and means nothing
    if kind == "text_link":
        href = attrs.get("href", "")
        match = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if match:
            return {"type": "text_mention", "user": {"id": int(match[1])}}
        return {"type": "text_link", "url": href} if href else None
    if kind == "code" and stack and stack[-1][0] == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-") and stack[-1][2] is not None:
            stack[-1][2]["language"] = language.removeprefix("language-")
        return None  # <pre><code> is one pre entity
    if kind == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    if kind == "custom_emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    return {"type": kind}


def _parse_html(source: str) -> tuple[str, list[dict]]:
    out = _Builder()
    stack: list[tuple[str, int, dict | None]] = []  # (tag, start offset, entity)
    i = 0
    while i < len(source):
        char = source[i]
        if char == "&":
            match = re.match(r"&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);", source[i:])
            if match and match[1].startswith("#x"):
                out.add(chr(int(match[1][2:], 16)))
            elif match and match[1].startswith("#"):
                out.add(chr(int(match[1][1:])))
            elif match and match[1] in _NAMED:
                out.add(_NAMED[match[1]])
            else:
                out.add("&")
                i += 1
                continue
            i += len(match[0])
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        end = source.find(">", i)
        if end < 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, i)}")
        body = source[i + 1 : end]
        if body.startswith("/"):
            name = body[1:].strip().lower()
            if not stack:
                raise EntityParseError(
                    f"Unexpected end tag at byte offset {_byte_offset(source, i)}"
                )
            tag, start, entity = stack.pop()
            if name and name != tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(source, i)}, "
                    f'expected "</{tag}>", found "</{name}>"'
                )
            if entity is not None:
                out.close(entity, start)
        else:
            name, _, rest = body.partition(" ")
            name = name.strip().lower()
            if name not in _HTML_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, i)}'
                )
            attrs = {
                m[1].lower(): html.unescape(m[2] or m[3] or m[4] or "")
                for m in _ATTR.finditer(rest)
            }
            stack.append((name, out.length, _html_entity(name, attrs, stack)))
        i = end + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


_RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")
_V2_MARKS = [
    ("```", "pre"),
    ("__", "underline"),
    ("||", "spoiler"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
    ("`", "code"),
]
_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


def _parse_markdown(source: str, v2: bool) -> tuple[str, list[dict]]:
    """MarkdownV2 (strict escaping) or legacy Markdown (``*b* _i_ `c` ```p``` [t](u)``)."""
    out = _Builder()
    open_marks: list[tuple[str, int, int, dict]] = []  # (kind, output start, index, entity)
    marks = _V2_MARKS if v2 else [("```", "pre"), ("*", "bold"), ("_", "italic"), ("`", "code")]
    i = 0
    while i < len(source):
        char = source[i]
        in_code = bool(open_marks) and open_marks[-1][0] in ("code", "pre")
        if char == "\\" and i + 1 < len(source) and (v2 or source[i + 1] in "_*`["):
            out.add(source[i + 1])
            i += 2
            continue
        mark = next(((m, k) for m, k in marks if source.startswith(m, i)), None)
        if mark and (not in_code or mark[1] == open_marks[-1][0]):
            token, kind = mark
            if open_marks and open_marks[-1][0] == kind:
                _, start, _, entity = open_marks.pop()
                out.close(entity, start)
                i += len(token)
                continue
            if any(k == kind for k, _, _, _ in open_marks):
                raise EntityParseError(
                    f"Can't find end of {_NAMES[kind]} entity at byte offset "
                    f"{_byte_offset(source, i)}"
                )
            i += len(token)
            entity = {"type": kind}
            if kind == "pre":
                newline = source.find("\n", i)
                first_line = source[i:newline] if newline >= 0 else ""
                if newline >= 0 and re.fullmatch(r"[\w+#-]*", first_line):
                    i = newline + 1
                    if first_line:
                        entity["language"] = first_line
            open_marks.append((kind, out.length, i, entity))
            continue
        if char == "[" and not in_code:
            close = source.find("](", i)
            end = source.find(")", close + 2) if close >= 0 else -1
            if close < 0 or end < 0:
                if v2:
                    raise EntityParseError(
                        "Character '[' is reserved and must be escaped with the preceding '\\'"
                    )
                out.add(char)
                i += 1
                continue
            label, _ = _parse_markdown(source[i + 1 : close], v2)
            start = out.length
            out.add(label)
            out.close({"type": "text_link", "url": source[close + 2 : end]}, start)
            i = end + 1
            continue
        if v2 and not in_code and char in _RESERVED_V2:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        i += 1
    if open_marks:
        kind, _, index, _ = open_marks[-1]
        raise EntityParseError(
            f"Can't find end of {_NAMES[kind]} entity at byte offset "
            f"{_byte_offset(source, index - 1)}"
        )
    return out.result()


def parse_text(source: str, parse_mode: str | None) -> tuple[str, list[dict]]:
    """Turn ``source`` in ``parse_mode`` into (text, entities); raise EntityParseError."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(source)
    if mode in ("markdownv2", "markdown"):
        return _parse_markdown(source, v2=mode == "markdownv2")
    if mode:
        raise EntityParseError(f'Unsupported parse_mode "{parse_mode}"')
    return source, []


def strip_text(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Drop leading and trailing whitespace as Telegram does, keeping entities in place."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


_DETECT = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{4,32})"
    r"|(?P<url>\bhttps?://[^\s<>\"]+)"
)


def detect_entities(text: str) -> list[dict]:
    """Entities a Telegram client marks in a user's plain text."""
    entities = []
    for match in _DETECT.finditer(text):
        entities.append(
            {
                "type": match.lastgroup,
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match[0]),
            }
        )
    return entities
