"""Every bundled questionnaire validates; the Big Five keeps the published IPIP keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.questionnaire import QuestionnaireDefinition, load_definition_file
from backend.questionnaire.schema import LikertQuestion

QUESTIONNAIRES = Path(__file__).resolve().parents[2] / "questionnaires"
BUNDLED = sorted(QUESTIONNAIRES.glob("*.yaml"))


def test_the_expected_files_are_bundled() -> None:
    names = {path.name for path in BUNDLED}
    assert {"big-five-ipip.yaml", "fitness-aio.yaml", "values-attitudes.yaml"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_definition_validates(path: Path) -> None:
    definition = load_definition_file(path)
    assert definition.source, "every bundled definition says where it comes from"
    assert path.read_text(encoding="utf-8").startswith("#"), "a header comment on provenance"
    assert definition.dimensions
    for dimension in definition.dimensions:
        assert [band.label for band in dimension.bands] == ["low", "average", "high"]
        assert dimension.high, f"{dimension.id} needs a name for its high pole"
        assert dimension.low, f"{dimension.id} needs a name for its low pole"
    assert set(definition.segmentation_dimensions()) == {d.id for d in definition.dimensions}


@pytest.fixture(scope="module")
def big_five() -> QuestionnaireDefinition:
    return load_definition_file(QUESTIONNAIRES / "big-five-ipip.yaml")


def test_big_five_has_both_keyings_in_every_dimension(big_five: QuestionnaireDefinition) -> None:
    assert len(big_five.questions()) >= 20
    ids = [d.id for d in big_five.dimensions]
    assert ids == ["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]
    for dimension in big_five.dimensions:
        keys = {item.reverse for item in dimension.items}
        assert keys == {True, False}, f"{dimension.id} needs + and - keyed items"


# (dimension, item text, reversed?) checked against the published IPIP key; Emotional
# Stability is scored as neuroticism, so its published keys are flipped.
PUBLISHED_KEYS = [
    ("extraversion", "Am the life of the party.", False),
    ("extraversion", "Don't talk a lot.", True),
    ("extraversion", "Am quiet around strangers.", True),
    ("agreeableness", "Feel little concern for others.", True),
    ("agreeableness", "Make people feel at ease.", False),
    ("conscientiousness", "Shirk my duties.", True),
    ("conscientiousness", "Am exacting in my work.", False),
    ("neuroticism", "Get stressed out easily.", False),
    ("neuroticism", "Am relaxed most of the time.", True),
    ("neuroticism", "Seldom feel blue.", True),
    ("openness", "Do not have a good imagination.", True),
    ("openness", "Am full of ideas.", False),
]


@pytest.mark.parametrize(("dimension", "text", "reverse"), PUBLISHED_KEYS)
def test_big_five_keys_follow_the_published_key(
    big_five: QuestionnaireDefinition, dimension: str, text: str, reverse: bool
) -> None:
    questions = big_five.questions()
    item = next(
        i for i in big_five.dimension(dimension).items if questions[i.question].text == text
    )
    assert item.reverse is reverse


def test_big_five_counts_of_reversed_items(big_five: QuestionnaireDefinition) -> None:
    reversed_items = {d.id: sum(i.reverse for i in d.items) for d in big_five.dimensions}
    # Published minus-keyed items: O 3, C 4, E 5, A 4; Emotional Stability has 2 plus-keyed.
    assert reversed_items == {
        "openness": 3,
        "conscientiousness": 4,
        "extraversion": 5,
        "agreeableness": 4,
        "neuroticism": 2,
    }
    assert all(len(d.items) == 10 for d in big_five.dimensions)


def test_big_five_speaks_german(big_five: QuestionnaireDefinition) -> None:
    assert big_five.languages == ["en", "de"]
    assert "Persönlichkeitsprofil" in big_five.text(big_five.title, "de")
    first = big_five.questions()["ext1"]
    assert isinstance(first, LikertQuestion)
    assert first.labels is not None
    assert big_five.text(first.labels[0], "de") == "Trifft überhaupt nicht zu"
    assert big_five.text(first.labels[-1], "en") == "Very accurate"


def test_fitness_dimensions_survive_branching() -> None:
    definition = load_definition_file(QUESTIONNAIRES / "fitness-aio.yaml")
    questions = definition.questions()
    conditional = {q.id for s in definition.sections for q in s.questions if s.when or q.when}
    for dimension in definition.dimensions:
        asked_of_all = [i for i in dimension.items if i.question not in conditional]
        # Scores are missing below half of the items answered; branching alone must not do it.
        assert len(asked_of_all) >= 3
        assert len(asked_of_all) * 2 >= len(dimension.items)
        assert all(questions[i.question].type != "text" for i in dimension.items)
