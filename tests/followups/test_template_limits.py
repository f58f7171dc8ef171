"""Templates are bounded at send time too: a render past a limit fails its row, not the run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from backend.followups.templates import TemplateLimitError, render
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupMessage, FollowupStatus
from backend.storage.models import Respondent
from tests.helpers.followups import PLAIN, add_pack, add_respondents, assign

CONTEXT = {"first_name": "Ada", "segment_name": "S", "top_traits": [], "scores": {}}


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x",
            "too large",
        ),
        (
            "{% set s = 'x' * 500 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}x",
            "steps",
        ),
        ("{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}", "nest more than 20"),
        ("{{ 'x' * 10**9 }}", "repeating a value"),
        ("{% for i in range(10000) %}xxxxxxxxxx{% endfor %}", "renders more than"),
    ],
    ids=["nested-ranges", "nested-string-loops", "recursive-macro", "huge-string", "flood"],
)
def test_a_render_past_a_limit_raises(template: str, problem: str) -> None:
    with pytest.raises(TemplateLimitError, match=problem):
        render(template, CONTEXT)


def test_ordinary_templates_render() -> None:
    source = "{% for t in top_traits %}{{ t }}{% endfor %}Hi {{ first_name ~ '!' }} {{ 'ab' * 2 }}"
    assert render(source, CONTEXT) == "Hi Ada! abab"


#: Fine for the test profiles ("Ada", "there"), past the step limit for a long first name.
CUBIC = (
    "{% for a in first_name %}{% for b in first_name %}{% for c in first_name %}"
    "{% endfor %}{% endfor %}{% endfor %}Hello {{ first_name }}"
)
PACK = f"""\
id: cubic-pack
questionnaire: big-five-ipip
title: Cubic
items:
  - id: hello
    target: {{default: true}}
    text: "{CUBIC}"
"""


def test_a_message_that_fails_to_render_is_failed_with_the_reason(engine: Engine) -> None:
    add_pack(engine, PACK)
    short, long = add_respondents(engine, [301, 302])
    with session_scope(engine) as session:
        person = session.get(Respondent, long)
        assert person is not None
        person.first_name = "L" * 40  # 64,000 iterations
        session.add(person)
    assign(engine, [short, long], PLAIN, now=datetime(2026, 1, 15, 12, tzinfo=UTC))
    with session_scope(engine) as session:
        rows = {r.respondent_id: r for r in session.exec(select(FollowupMessage))}
    assert rows[short].status == FollowupStatus.PENDING
    assert rows[short].text == "Hello R301"
    assert rows[long].status == FollowupStatus.FAILED
    assert "steps" in (rows[long].reason or "")
