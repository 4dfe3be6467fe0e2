"""Text formatting as Telegram parses it: HTML and MarkdownV2 into text plus entities."""

from __future__ import annotations

import pytest

from bot.sandbox.formatting import EntityParseError, detect_entities, parse_text, strip_text


def spans(entities: list[dict]) -> list[tuple[str, int, int]]:
    return [(e["type"], e["offset"], e["length"]) for e in entities]


def test_html_tags_become_entities_with_utf16_offsets():
    text, entities = parse_text('🧧 <b>红包</b> <a href="https://example.org">link</a>', "HTML")
    assert text == "🧧 红包 link"
    assert spans(entities) == [("bold", 3, 2), ("text_link", 6, 4)]  # the emoji counts 2
    assert entities[1]["url"] == "https://example.org"


def test_html_pre_with_language_and_user_mention():
    text, entities = parse_text(
        '<pre><code class="language-python">x = 1</code></pre><a href="tg://user?id=42">Bob</a>',
        "HTML",
    )
    assert text == "x = 1Bob"
    assert entities[0]["type"] == "pre" and entities[0]["language"] == "python"
    assert entities[-1] == {"type": "text_mention", "user": {"id": 42}, "offset": 5, "length": 3}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a < b", "Unclosed start tag at byte offset 2"),
        ("<marquee>x</marquee>", 'Unsupported start tag "marquee" at byte offset 0'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
    ],
)
def test_broken_html_is_refused_like_telegram(source, message):
    with pytest.raises(EntityParseError, match=message):
        parse_text(source, "HTML")


def test_markdown_v2_needs_reserved_characters_escaped():
    text, entities = parse_text(
        r"*¥12\.34* _ok_ __u__ ||s|| `c\.` [x](https://e.org)", "MarkdownV2"
    )
    assert text == "¥12.34 ok u s c. x"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "spoiler",
        "code",
        "text_link",
    ]
    with pytest.raises(EntityParseError, match="Character '!' is reserved"):
        parse_text("Done!", "MarkdownV2")
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity"):
        parse_text("*open", "MarkdownV2")


def test_strip_keeps_entities_on_the_same_characters():
    text, entities = strip_text("  hi there  ", [{"type": "bold", "offset": 5, "length": 5}])
    assert text == "hi there"
    assert spans(entities) == [("bold", 3, 5)]


def test_commands_mentions_and_links_are_detected_in_user_text():
    found = detect_entities("/send@wallet_sandbox_bot @alice 5 see https://e.org/x")
    assert spans(found) == [("bot_command", 0, 24), ("mention", 25, 6), ("url", 38, 15)]
    assert detect_entities("a/b not a command") == []
