from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from backend.segmentation import (
    SegmentationError,
    Segmenter,
    SegmentProfile,
    Standardiser,
    build_features,
    describe_segments,
    pole_adjectives,
)
from tests.helpers.synthetic import PROFILES_4, Respondents


@pytest.fixture
def profiled(respondents: Callable[..., Respondents]) -> tuple[Respondents, list[SegmentProfile]]:
    data = respondents(PROFILES_4, 2000, seed=41)
    features = build_features(data.scores, data.dimensions)
    segmenter = Segmenter(random_state=0).fit(features.values)
    profiles = describe_segments(
        features.values, segmenter.labels_, features.standardiser, features.dimensions
    )
    return data, profiles


def test_profiles_report_size_share_and_centroids(
    profiled: tuple[Respondents, list[SegmentProfile]],
) -> None:
    data, profiles = profiled
    assert sum(p.size for p in profiles) == len(data.scores)
    assert sum(p.share for p in profiles) == pytest.approx(1.0)
    for profile in profiles:
        assert set(profile.centroid) == set(data.dimensions)
        assert all(1.0 <= v <= 5.0 for v in profile.centroid.values())
        # Each centroid sits near one of the true profiles, in item units.
        centroid = np.array([profile.centroid[d] for d in data.dimensions])
        assert np.abs(PROFILES_4 - centroid).max(axis=1).min() < 0.5


def test_names_are_unique_and_built_from_top_traits(
    profiled: tuple[Respondents, list[SegmentProfile]],
) -> None:
    _, profiles = profiled
    names = [p.name for p in profiles]
    assert len(set(names)) == len(names)
    for profile in profiles:
        assert profile.traits
        assert profile.name.startswith(profile.traits[0].adjective)
        zs = [abs(t.z) for t in profile.traits]
        assert zs == sorted(zs, reverse=True)
        assert all(abs(z) >= 0.3 for z in zs)


def test_descriptions_mention_size_and_top_traits(
    profiled: tuple[Respondents, list[SegmentProfile]],
) -> None:
    _, profiles = profiled
    for profile in profiles:
        assert f"{profile.size:,} respondents" in profile.description
        for trait in profile.traits:
            assert trait.label.lower() in profile.description
            assert trait.adjective.lower() in profile.description


def test_high_openness_low_neuroticism_is_named_from_the_lexicon() -> None:
    standardiser = Standardiser(
        ("openness", "neuroticism", "extraversion"), np.zeros(3), np.ones(3)
    )
    values = np.array([[1.5, -1.0, 0.1], [-1.5, 1.0, -0.1]])
    profiles = describe_segments(values, [0, 1], standardiser, standardiser.columns)
    assert profiles[0].name == "Curious · Easy-going"
    assert profiles[1].name == "Down-to-earth · Sensitive"
    assert "close to average on extraversion" in profiles[0].description


def test_unknown_dimensions_fall_back_and_caller_labels_win() -> None:
    assert pole_adjectives("coffee_intake") == ("High coffee intake", "Low coffee intake")
    assert pole_adjectives("Openness to Experience") == ("Curious", "Down-to-earth")
    assert pole_adjectives("openness", poles={"openness": ("Artsy", "Practical")}) == (
        "Artsy",
        "Practical",
    )
    standardiser = Standardiser(("coffee_intake",), np.zeros(1), np.ones(1))
    profiles = describe_segments(
        np.array([[2.0], [-2.0]]),
        [0, 1],
        standardiser,
        ["coffee_intake"],
        dimension_labels={"coffee_intake": "Coffee"},
    )
    assert [p.name for p in profiles] == ["High coffee", "Low coffee"]


def test_clashing_names_are_disambiguated() -> None:
    columns = ("openness", "neuroticism", "extraversion", "agreeableness")
    standardiser = Standardiser(columns, np.zeros(4), np.ones(4))
    values = np.array(
        [
            [1.5, -1.0, 0.5, 0.0],
            [1.5, -1.0, -0.5, 0.0],
            [1.5, -1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.1],
        ]
    )
    profiles = describe_segments(values, range(5), standardiser, columns)
    names = [p.name for p in profiles]
    assert len(set(names)) == 5
    assert names[0] == "Curious · Easy-going · Outgoing"
    assert names[1] == "Curious · Easy-going · Reserved"
    assert names[2] == "Curious · Easy-going"
    assert names[3:] == ["Middle-of-the-road 1", "Middle-of-the-road 2"]


def test_single_segment_is_everyone() -> None:
    standardiser = Standardiser(("openness",), np.zeros(1), np.ones(1))
    profiles = describe_segments(np.array([[1.0], [-1.0]]), [0, 0], standardiser, ["openness"])
    assert len(profiles) == 1
    assert profiles[0].name == "All respondents"
    assert profiles[0].share == 1.0
    assert "single segment" in profiles[0].description


def test_rejects_labels_outside_the_segments() -> None:
    standardiser = Standardiser(("openness",), np.zeros(1), np.ones(1))
    with pytest.raises(SegmentationError, match="Labels must lie"):
        describe_segments(np.zeros((2, 1)), [0, 3], standardiser, ["openness"], n_segments=2)


def test_two_segments_never_share_a_pole_word_they_differ_on() -> None:
    from backend.segmentation.naming import DISTINCT_GAP

    rng = np.random.default_rng(0)
    # Both very open, but the first far more: both would be "Curious".
    centres = np.array([[5.5, 3.0, 4.5], [4.3, 4.5, 3.0], [2.0, 3.0, 3.0]])
    truth = rng.integers(0, 3, 1500)
    scores = centres[truth] + rng.normal(0, 0.3, (1500, 3))
    features = build_features(scores, ["openness", "conscientiousness", "extraversion"])
    profiles = describe_segments(
        features.values,
        truth,
        features.standardiser,
        features.dimensions,
        scales={"openness": (1.0, 6.0)},
    )
    for a in profiles:
        for b in profiles:
            if a.index >= b.index:
                continue
            words_a = set(a.name.split(" · "))
            for trait in (*a.traits, *b.traits):
                if trait.adjective in words_a and trait.adjective in b.name.split(" · "):
                    gap = abs(a.z_scores[trait.dimension] - b.z_scores[trait.dimension])
                    assert gap < DISTINCT_GAP, (a.name, b.name)
    assert sum("Curious" in p.name.split(" · ") for p in profiles) == 1
    first = profiles[0].description
    assert "on the 1–6 scale" in first
    assert "The closest segment is" in first
