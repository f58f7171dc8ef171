"""Broken and malicious questionnaire and content files, each with what its rejection says.

Every case is a file a careless author or an attacker could upload: bombs, depth, size,
encodings, lone surrogates, control characters, huge counts, texts Telegram cannot send,
values the database cannot hold, and templates that loop, recurse or build huge strings.
Over 400 lines because it is a catalogue: one short entry a case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

QUESTIONNAIRE = """\
id: hostile
title: Hostile
sections:
  - id: main
    questions:
      - id: q1
        type: likert
        text: I like tests.
      - id: q2
        type: single_choice
        text: Pick one.
        options:
          - {id: a, text: A}
          - {id: b, text: B}
dimensions:
  - id: d1
    label: D1
    high: Keen
    low: Wary
    items: [{question: q1}]
    bands:
      - {up_to: 50, label: low, text: Low.}
      - {up_to: 100, label: high, text: High.}
"""

CONTENT = """\
id: hostile-pack
questionnaire: hostile
title: Pack
items:
  - id: welcome
    target: {default: true}
    text: "Hi {{ first_name }}"
"""


@dataclass(frozen=True)
class Case:
    """One hostile file: its kind, name, bytes, and a fragment its rejection must contain."""

    name: str
    kind: str  # "questionnaire" or "content"
    data: bytes
    expect: str
    #: The line the problem must be reported on, when the case is about lines.
    line: int | None = None
    filename: str = ""

    @property
    def file_name(self) -> str:
        suffix = ".json" if self.data.lstrip()[:1] in (b"{", b"[") else ".yaml"
        return self.filename or f"{self.name}{suffix}"


def _q(text: str) -> bytes:
    return text.encode()


def _qset(old: str, new: str) -> bytes:
    assert old in QUESTIONNAIRE, old
    return QUESTIONNAIRE.replace(old, new, 1).encode()


def _template(template: str) -> bytes:
    """A content pack whose only item has ``template`` as its text (as a JSON string)."""
    return CONTENT.replace('"Hi {{ first_name }}"', json.dumps(template)).encode()


def _cset(old: str, new: str) -> bytes:
    assert old in CONTENT, old
    return CONTENT.replace(old, new, 1).encode()


def _laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _questions(count: int) -> str:
    rows = "".join(f"      - {{id: q{i}, type: text, text: x}}\n" for i in range(count))
    return f"id: many\ntitle: Many\nsections:\n  - id: s\n    questions:\n{rows}"


def _deep_block(levels: int) -> str:
    return "".join(" " * (2 * i) + "a:\n" for i in range(levels)) + " " * (2 * levels) + "b\n"


def _four_mistakes() -> bytes:
    text = QUESTIONNAIRE.replace("text: I like tests.", "text: I like tests.\n        txet: typo")
    text = text.replace("items: [{question: q1}]", "items: [{question: q9}]")
    text = text.replace("{up_to: 100, label: high", "{up_to: 100, label: low")
    text = text.replace("{id: b, text: B}", "{id: a, text: B}")
    return text.encode()


QUESTIONNAIRE_CASES = [
    # --- size and encodings ------------------------------------------------------------
    Case("oversize", "questionnaire", _q(QUESTIONNAIRE + "#" * 1_100_000), "over 1,000,000 bytes"),
    Case(
        "latin-1-byte",
        "questionnaire",
        _qset("title: Hostile", "title: Caf\xe9").replace(b"Caf\xc3\xa9", b"Caf\xe9"),
        "not UTF-8",
        line=2,
    ),
    Case("utf-16", "questionnaire", QUESTIONNAIRE.encode("utf-16"), "UTF-16"),
    Case("empty", "questionnaire", b"", "the file is empty"),
    Case("only-blank-lines", "questionnaire", b"\n\n   \n", "the file is empty"),
    Case(
        "raw-nul-byte",
        "questionnaire",
        _qset("Hostile", "Hos\x00tile"),
        "control character (U+0000)",
        line=2,
    ),
    Case(
        "raw-escape",
        "questionnaire",
        _qset("Hostile", "Hos\x1b[2Jtile"),
        "control character (U+001B)",
        line=2,
    ),
    Case(
        "escaped-terminal-sequence",
        "questionnaire",
        _qset("title: Hostile", 'title: "\\e[31mRed"'),
        "control character (U+001B)",
        line=2,
    ),
    Case(
        "escaped-nul-title",
        "questionnaire",
        _qset("title: Hostile", 'title: "A\\0B"'),
        "NUL character",
        line=2,
    ),
    Case(
        "escaped-bell",
        "questionnaire",
        _qset("text: I like tests.", 'text: "Ring \\a"'),
        "control character (U+0007)",
    ),
    Case(
        "c1-control",
        "questionnaire",
        _qset("title: Hostile", 'title: "A\\x9bB"'),
        "control character (U+009B)",
    ),
    Case(
        "yaml-lone-surrogate",
        "questionnaire",
        _qset("title: Hostile", 'title: "\\ud800"'),
        "Unicode",  # libyaml: "invalid Unicode character escape code"; else "lone surrogate"
        line=2,
    ),
    Case(
        "json-lone-surrogate",
        "questionnaire",
        _q('{"id": "hostile", "title": "\\ud800", "sections": []}'),
        "lone surrogate",
    ),
    Case(
        "json-reversed-surrogates",
        "questionnaire",
        _q('{"id": "hostile", "title": "\\udc00\\ud800", "sections": []}'),
        "lone surrogate",
    ),
    Case(
        "json-nul",
        "questionnaire",
        _q('{"id": "hostile", "title": "a\\u0000b", "sections": []}'),
        "NUL character",
    ),
    Case(
        "json-terminal-sequence",
        "questionnaire",
        _q('{"id": "hostile", "title": "\\u001b[2J", "sections": []}'),
        "control character",
    ),
    Case(
        "control-in-key",
        "questionnaire",
        _qset("title: Hostile", 'title: Hostile\n"\\e]0;x": 1'),
        "a key contains",
    ),
    # --- bombs ---------------------------------------------------------------------------
    Case("billion-laughs", "questionnaire", _q(_laughs()), "expands to more than"),
    Case(
        "quadratic-blowup",
        "questionnaire",
        _q("a: &a " + "x" * 90_000 + "\nb: [" + ", ".join(["*a"] * 200) + "]\n"),
        "expands to more than 4,000,000 characters",
    ),
    Case(
        "many-aliases",
        "questionnaire",
        _q("a: &a x\nb: [" + ", ".join(["*a"] * 600) + "]\n"),
        "more than 500 aliases",
    ),
    Case("alias-as-key", "questionnaire", _q("a: &a [1, 2]\n? *a\n: x\n"), "a key is a list"),
    Case("merge-key-bomb", "questionnaire", _q(_laughs(4) + "x:\n  <<: *d\n"), "merge"),
    Case("recursive-alias", "questionnaire", _q("a: &a [*a]\n"), "YAML"),
    # --- depth ---------------------------------------------------------------------------
    Case("deep-flow-yaml", "questionnaire", _q("a: " + "[" * 10_000 + "]" * 10_000), "nest"),
    Case("deep-block-yaml", "questionnaire", _q(_deep_block(100)), "nested more than 40"),
    Case(
        "deep-json-arrays",
        "questionnaire",
        _q('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "nested more than 40",
    ),
    Case(
        "deep-json-objects",
        "questionnaire",
        _q('{"a": ' * 5_000 + "1" + "}" * 5_000),
        "nested more than 40",
    ),
    Case(
        "deep-condition",
        "questionnaire",
        _qset(
            "type: single_choice",
            "type: single_choice\n        when: "
            + "{not: " * 45
            + "{question: q1, answered: true}"
            + "}" * 45,
        ),
        "nested more than 40",
    ),
    # --- huge counts ---------------------------------------------------------------------
    Case(
        "ten-thousand-questions",
        "questionnaire",
        _q(_questions(10_001)),
        "more than 20,000 values",
    ),
    Case(
        "six-hundred-questions", "questionnaire", _q(_questions(600)), "600 questions; at most 500"
    ),
    Case(
        "two-hundred-options",
        "questionnaire",
        _qset(
            "          - {id: a, text: A}\n          - {id: b, text: B}\n",
            "".join(f"          - {{id: o{i}, text: O{i}}}\n" for i in range(200)),
        ),
        "200 options; at most 50",
    ),
    Case(
        "hundred-thousand-items",
        "questionnaire",
        _q("languages: [" + "en, " * 100_000 + "en]\n"),
        "more than 20,000 values",
    ),
    Case(
        "two-thousand-unknown-keys",
        "questionnaire",
        _q(QUESTIONNAIRE + "".join(f"k{i}: 1\n" for i in range(2_000))),
        "more problems not listed",
    ),
    # --- numbers -------------------------------------------------------------------------
    Case(
        "yaml-huge-integer",
        "questionnaire",
        _qset("type: likert", "type: likert\n        points: " + "9" * 5_000),
        "cannot read the value",
    ),
    Case("json-huge-integer", "questionnaire", _q('{"id": ' + "9" * 5_000 + "}"), "JSON error"),
    Case(
        "infinite-points",
        "questionnaire",
        _qset("type: likert", "type: likert\n        points: .inf"),
        "finite number",
    ),
    Case(
        "nan-bound",
        "questionnaire",
        _qset("type: likert", "type: number\n        min: .nan"),
        "finite number",
    ),
    # --- texts Telegram cannot send, values the database cannot hold ----------------------
    Case(
        "twenty-thousand-char-question",
        "questionnaire",
        _qset("text: I like tests.", "text: " + "x" * 20_000),
        "once formatted for Telegram",
        line=8,
    ),
    Case(
        "escaping-grows-past-limit",
        "questionnaire",
        _qset("text: I like tests.", "text: '" + "&" * 3_900 + "'"),
        "once formatted for Telegram",
    ),
    Case(
        "five-thousand-char-title",
        "questionnaire",
        _qset("title: Hostile", "title: " + "T" * 5_000),
        "the title is 5,000 characters; at most 256",
        line=2,
    ),
    Case(
        "long-option-button",
        "questionnaire",
        _qset("{id: a, text: A}", "{id: a, text: " + "A" * 100 + "}"),
        "the button text is 100 characters",
    ),
    Case(
        "long-likert-label",
        "questionnaire",
        _qset(
            "type: likert",
            "type: likert\n        points: 2\n        labels: [" + "L" * 80 + ", R]",
        ),
        "the button text is 80 characters",
    ),
    Case(
        "long-yes-label",
        "questionnaire",
        _qset(
            "type: single_choice\n        text: Pick one.\n        options:\n"
            "          - {id: a, text: A}\n          - {id: b, text: B}\n",
            "type: yes_no\n        text: Pick one.\n        yes_label: " + "Y" * 70 + "\n",
        ),
        "the button text is 70 characters",
    ),
    Case(
        "long-band-text",
        "questionnaire",
        _qset("text: Low.", "text: " + "b" * 5_000),
        "the band text would be 5,000 characters",
    ),
    Case(
        "long-outro",
        "questionnaire",
        _qset("title: Hostile", "title: Hostile\noutro: " + "o" * 5_000),
        "the closing text",
    ),
    Case(
        "long-intro",
        "questionnaire",
        _qset("title: Hostile", "title: Hostile\nintro: " + "i" * 5_000),
        "the introduction message",
    ),
    Case(
        "long-pole-name",
        "questionnaire",
        _qset("high: Keen", "high: " + "K" * 100),
        "high is 100 characters",
    ),
    Case(
        "long-id", "questionnaire", _qset("id: q1", "id: q" + "1" * 200), "at most 32 characters"
    ),
    Case(
        "huge-string",
        "questionnaire",
        _qset("title: Hostile", "title: Hostile\ndescription: " + "d" * 150_000),
        "at most 100,000",
    ),
    # --- syntax and structure --------------------------------------------------------------
    Case(
        "python-object-tag",
        "questionnaire",
        _q('!!python/object/apply:os.system ["echo pwned"]\n'),
        "is not allowed",
    ),
    Case(
        "binary-title",
        "questionnaire",
        _qset("title: Hostile", "title: !!binary aGVsbG8="),
        "is not allowed",
    ),
    Case(
        "missing-brace",
        "questionnaire",
        _qset("title: Hostile", "title: {en: Hostile"),
        "expected ',' or '}'",
        line=2,
    ),
    Case(
        "json-missing-comma",
        "questionnaire",
        _q('{\n  "id": "hostile"\n  "title": "x"\n}\n'),
        "Expecting ',' delimiter",
        line=2,
    ),
    Case("top-level-list", "questionnaire", _q("- a\n- b\n"), "a definition is a mapping"),
    Case("tab-indentation", "questionnaire", _qset("      - id: q1", "\t- id: q1"), "YAML syntax"),
    Case(
        "two-documents", "questionnaire", _q(QUESTIONNAIRE + "---\nid: other\n"), "single document"
    ),
    Case(
        "duplicate-keys",
        "questionnaire",
        _qset("title: Hostile", "title: Hostile\ntitle: Again"),
        "duplicate key 'title'",
        line=3,
    ),
    Case("four-mistakes", "questionnaire", _four_mistakes(), "unknown key 'txet'"),
]

CONTENT_CASES = [
    Case("content-oversize", "content", _q(CONTENT + "#" * 1_100_000), "over 1,000,000 bytes"),
    Case(
        "content-latin-1",
        "content",
        _cset("title: Pack", "title: P\xe4ck").replace(b"P\xc3\xa4ck", b"P\xe4ck"),
        "not UTF-8",
        line=3,
    ),
    Case("content-billion-laughs", "content", _q(_laughs()), "expands to more than"),
    Case(
        "content-deep-json",
        "content",
        _q('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"),
        "nested more than 40",
    ),
    Case("content-lone-surrogate", "content", _cset("title: Pack", 'title: "\\udfff"'), "Unicode"),
    Case(
        "content-terminal-sequence",
        "content",
        _template("Hi \x1b[2J{{ first_name }}"),
        "control character",
    ),
    Case(
        "content-long-title",
        "content",
        _cset("title: Pack", "title: " + "T" * 5_000),
        "at most 256 characters",
    ),
    Case(
        "content-three-hundred-items",
        "content",
        _q(
            CONTENT
            + "".join(
                f"  - {{id: i{i}, target: {{default: true}}, text: x}}\n" for i in range(300)
            )
        ),
        "at most 200 items",
    ),
    Case(
        "content-long-button",
        "content",
        _cset(
            '    text: "Hi {{ first_name }}"',
            '    text: "Hi"\n    buttons: [{text: ' + "B" * 100 + ", url: 'https://example.com'}]",
        ),
        "at most 64 characters",
    ),
    # --- templates -------------------------------------------------------------------------
    Case(
        "nested-range-loops",
        "content",
        _template(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
        ),
        "too large",
    ),
    Case(
        "range-billion",
        "content",
        _template("{% for i in range(10**9) %}{% endfor %}x"),
        "too large",
    ),
    Case(
        "nested-loops-over-strings",
        "content",
        _template(
            "{% set s = 'x' * 1000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}x"
        ),
        "steps",
    ),
    Case(
        "recursive-macro",
        "content",
        _template("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}"),
        "nest more than 20",
    ),
    Case(
        "recursive-loop",
        "content",
        _template("{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}"),
        "nest more than 20",
    ),
    Case("gigabyte-string", "content", _template("{{ 'x' * 10**9 }}"), "repeating a value"),
    Case("huge-power", "content", _template("{{ 9 ** 99999 }}"), "too large"),
    Case("center-billion", "content", _template("{{ 'x' | center(10**9) }}"), "too large"),
    Case("ljust-method", "content", _template("{{ 'x'.ljust(10**9) }}"), "ljust"),
    Case("percent-width", "content", _template("{{ '%999999999s' % 'x' }}"), "format width"),
    Case(
        "format-filter-width",
        "content",
        _template("{{ '%999999999s' | format('x') }}"),
        "format width",
    ),
    Case(
        "str-format-width",
        "content",
        _template("{{ '{:>999999999}'.format('x') }}"),
        "format width",
    ),
    Case(
        "replace-blowup",
        "content",
        _template("{{ ('x' * 10000) | replace('', 'y' * 10000) }}"),
        "replace would build",
    ),
    Case(
        "indent-blowup",
        "content",
        _template("{{ ('x\n' * 5000) | indent(10000) }}"),
        "indent would build",
    ),
    Case(
        "concat-doubling",
        "content",
        _template("{% set a = 'x' * 10000 %}{% set b = a ~ a ~ a %}{{ b }}"),
        "~ builds",
    ),
    Case(
        "output-flood",
        "content",
        _template("{% for i in range(10000) %}xxxxxxxxxx{% endfor %}"),
        "renders more than",
    ),
    Case(
        "deep-parentheses",
        "content",
        _template("{{ " + "(" * 5_000 + "1" + ")" * 5_000 + " }}"),
        "nests too deeply",
    ),
    Case(
        "class-escape",
        "content",
        _template("{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        "unsafe",
    ),
    Case("globals-escape", "content", _template("{{ cycler.__init__.__globals__.os }}"), "unsafe"),
    Case("lipsum-removed", "content", _template("{{ lipsum(10000) }}"), "'lipsum' is undefined"),
    Case("undefined-name", "content", _template("Hi {{ nobody }}"), "'nobody' is undefined"),
]

CASES = QUESTIONNAIRE_CASES + CONTENT_CASES
