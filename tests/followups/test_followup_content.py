"""Content packs: the bundled ones validate; bad templates and rules are rejected with a path."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from backend.followups import choose_variant, load_content, load_content_file, select_items
from backend.followups.policy import capped_until, quiet_until
from backend.followups.targeting import SegmentView
from backend.questionnaire import DefinitionError, load_definition_file
from tests.helpers.followups import CONTENT_DIR, CURIOUS, PACK, PICKED, PLAIN, SOCIAL

DIMS = ["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]


@pytest.mark.parametrize("path", sorted(CONTENT_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_packs_validate_against_their_questionnaire(path: object) -> None:
    pack = load_content_file(str(path))
    definition = load_definition_file(CONTENT_DIR.parent / f"{pack.definition.questionnaire}.yaml")
    load_content_file(str(path), dimensions=[d.id for d in definition.dimensions])
    assert any(item.target.default for item in pack.definition.items)


def _issues(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load_content(text, source="bad.yaml", dimensions=DIMS)
    return [issue.render("bad.yaml") for issue in caught.value.issues]


def test_template_that_cannot_render_is_rejected_with_path_and_line() -> None:
    text = PACK.replace('"Welcome {{ first_name }}"', '"Top: {{ top_traits[0].adjective }}"')
    (issue,) = _issues(text)
    line = PACK.splitlines().index('    text: "Welcome {{ first_name }}"') + 1
    assert issue.startswith(f"bad.yaml:{line}: items[4].text: template fails for test profile")
    assert "no first name, no traits" in issue


def test_template_with_unknown_name_or_syntax_error_is_rejected() -> None:
    undefined = _issues(PACK.replace("{{ segment_name }}", "{{ segmnt_name }}"))
    assert "items[0].text" in undefined[0]
    assert "'segmnt_name' is undefined" in undefined[0]
    syntax = _issues(PACK.replace('"Later, {{ first_name }}"', '"Later, {{ first_name }"'))
    assert "items[1].text: template syntax error" in syntax[0]
    unknown_score = _issues(PACK.replace("Picked for {{ segment_name }}", "{{ scores.wit }}"))
    assert "items[3].text" in unknown_score[0]


def test_sandbox_blocks_unsafe_template() -> None:
    issues = _issues(PACK.replace("Welcome {{ first_name }}", "{{ ''.__class__.__mro__ }}"))
    assert "items[4].text" in issues[0]


def test_invalid_rules_are_rejected_with_their_path() -> None:
    issues = _issues(
        PACK.replace("{openness: high}}", "{openess: high}}", 1)
        .replace('">= 0.5"', '"very"')
        .replace("{default: true}", "{default: true, segments: [x]}")
    )
    assert any("items[0].target.rule.openess: unknown dimension 'openess'" in i for i in issues)
    assert any("items[2].target.rule.extraversion: 'very' is not a condition" in i for i in issues)
    assert any("items[4].target: give exactly one of rule, segments" in i for i in issues)


def test_missing_default_and_bad_shapes_are_reported() -> None:
    no_default = PACK[: PACK.index("  - id: fallback")]
    assert any("no default item" in i for i in _issues(no_default))
    issues = _issues(
        PACK.replace("send_after: 2d", "send_after: soon").replace("title:", "titel:")
    )
    assert any("items[1].send_after" in i and "not a duration" in i for i in issues)
    assert any("unknown key 'titel'" in i for i in issues)


def test_rules_pick_sequences_and_the_default() -> None:
    pack = load_content(PACK, dimensions=DIMS)
    ids = lambda seg: [p.item.id for p in select_items(pack.definition, pack.rules, seg)]  # noqa: E731
    assert ids(CURIOUS) == ["curious_now", "curious_later"]
    assert ids(SOCIAL) == ["social_now"]
    assert ids(PICKED) == ["chosen"]
    assert ids(PLAIN) == ["fallback"]


def test_score_band_and_combined_conditions() -> None:
    text = PACK.replace(
        "{rule: {openness: high}}",
        "{rule: {all: [{openness: 'score >= 60'}, {not: {neuroticism: 'band high'}}]}}",
        1,
    )
    pack = load_content(text, dimensions=DIMS)
    calm = SegmentView("9", "Calm", scores={"openness": 70}, bands={"neuroticism": "low"})
    tense = SegmentView("8", "Tense", scores={"openness": 70}, bands={"neuroticism": "high"})
    first = lambda seg: select_items(pack.definition, pack.rules, seg)[0].item.id  # noqa: E731
    assert first(calm) == "curious_now"
    assert first(tense) == "fallback"


def test_variants_are_stable_per_respondent_and_split() -> None:
    item = load_content(PACK).definition.item("social_now")
    picks = [choose_variant(item, rid) for rid in range(400)]
    assert picks == [choose_variant(item, rid) for rid in range(400)]
    share_a = sum(v is not None and v.id == "a" for v in picks) / 400
    assert 0.4 < share_a < 0.6


def test_quiet_hours_span_midnight_in_the_respondents_zone() -> None:
    night = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)
    until = quiet_until(night, "UTC", time(21), time(9))
    assert until == datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
    assert quiet_until(night, "America/New_York", time(21), time(9)) is None  # 17:30 there
    assert quiet_until(night, None, time(21), time(9)) is None
    assert quiet_until(night, "Not/AZone", time(21), time(9)) is None


def test_frequency_cap_defers_until_the_oldest_leaves_the_window() -> None:
    now = datetime(2026, 1, 15, 12, tzinfo=UTC)
    sent = [now - timedelta(days=d) for d in (6, 3, 1)]
    assert capped_until(now, sent, 3, timedelta(days=7)) == sent[0] + timedelta(days=7)
    assert capped_until(now, sent[1:], 3, timedelta(days=7)) is None
