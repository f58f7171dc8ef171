"""Pole words: the adjectives for the high and the low end of a dimension."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Adjectives for the high and the low pole of common dimensions. The low poles are worded so a
# marketer can show them to a customer: "Down-to-earth", not "Closed-minded".
POLES: dict[str, tuple[str, str]] = {
    # Big Five (OCEAN)
    "openness": ("Curious", "Down-to-earth"),
    "conscientiousness": ("Organised", "Spontaneous"),
    "extraversion": ("Outgoing", "Reserved"),
    "agreeableness": ("Warm", "Straight-talking"),
    "neuroticism": ("Sensitive", "Easy-going"),
    "emotional_stability": ("Calm", "Sensitive"),
    # Activities, interests, opinions and lifestyle
    "adventure": ("Adventurous", "Cautious"),
    "risk_taking": ("Risk-taking", "Risk-averse"),
    "novelty_seeking": ("Novelty-seeking", "Routine-loving"),
    "price_sensitivity": ("Bargain-hunting", "Premium-minded"),
    "brand_loyalty": ("Brand-loyal", "Brand-agnostic"),
    "brand_consciousness": ("Brand-conscious", "Label-indifferent"),
    "health_consciousness": ("Health-conscious", "Indulgent"),
    "environmental_concern": ("Eco-minded", "Convenience-first"),
    "social_activity": ("Sociable", "Homebody"),
    "outdoor_activity": ("Outdoorsy", "Indoorsy"),
    "fitness": ("Active", "Laid-back"),
    "travel": ("Travel-loving", "Home-loving"),
    "technology": ("Tech-savvy", "Low-tech"),
    "fashion": ("Trend-setting", "Classic"),
    "family_orientation": ("Family-first", "Individualist"),
    "community_involvement": ("Community-minded", "Private"),
    "religiosity": ("Devout", "Secular"),
    "materialism": ("Acquisitive", "Minimalist"),
    "optimism": ("Optimistic", "Sceptical"),
    "career_orientation": ("Career-driven", "Life-first"),
    # Values (Schwartz)
    "self_direction": ("Independent", "Guided"),
    "stimulation": ("Thrill-seeking", "Settled"),
    "hedonism": ("Pleasure-seeking", "Restrained"),
    "achievement": ("Ambitious", "Unhurried"),
    "power": ("Status-driven", "Egalitarian"),
    "security": ("Security-minded", "Carefree"),
    "conformity": ("Rule-following", "Nonconformist"),
    "tradition": ("Traditional", "Modern"),
    "benevolence": ("Caring", "Self-reliant"),
    "universalism": ("Idealistic", "Pragmatic"),
}

# Other spellings of the same dimensions, after normalisation (lower case, underscores).
ALIASES: dict[str, str] = {
    "o": "openness",
    "openness_to_experience": "openness",
    "c": "conscientiousness",
    "e": "extraversion",
    "extroversion": "extraversion",
    "a": "agreeableness",
    "n": "neuroticism",
    "negative_emotionality": "neuroticism",
    "stability": "emotional_stability",
    "adventurousness": "adventure",
    "adventurous": "adventure",
    "risk": "risk_taking",
    "risk_tolerance": "risk_taking",
    "novelty": "novelty_seeking",
    "price_consciousness": "price_sensitivity",
    "health": "health_consciousness",
    "health_orientation": "health_consciousness",
    "environment": "environmental_concern",
    "sustainability": "environmental_concern",
    "eco_consciousness": "environmental_concern",
    "sociability": "social_activity",
    "social": "social_activity",
    "outdoors": "outdoor_activity",
    "outdoor": "outdoor_activity",
    "sport": "fitness",
    "sports": "fitness",
    "tech": "technology",
    "tech_savviness": "technology",
    "technology_adoption": "technology",
    "fashion_consciousness": "fashion",
    "family": "family_orientation",
    "community": "community_involvement",
    "religion": "religiosity",
    "career": "career_orientation",
}


def normalise_key(name: str) -> str:
    """Lower-case a dimension key and join its words with underscores."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def dimension_label(name: str) -> str:
    """Make a readable label from a key: ``price_sensitivity`` -> ``Price sensitivity``."""
    words = re.sub(r"[_\-]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else name


def pole_adjectives(
    dimension: str,
    *,
    label: str | None = None,
    poles: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[str, str]:
    """Return the (high, low) adjectives for a dimension.

    A caller's ``poles`` win, then the built-in lexicon, then "High <label>" / "Low <label>".
    """
    if poles is not None and dimension in poles:
        return poles[dimension]
    key = normalise_key(dimension)
    key = ALIASES.get(key, key)
    if key in POLES:
        return POLES[key]
    text = label or dimension_label(dimension)
    lowered = text[:1].lower() + text[1:]
    return f"High {lowered}", f"Low {lowered}"
