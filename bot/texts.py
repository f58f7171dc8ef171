"""The bot's own words (buttons, prompts, notices) in the languages it speaks."""

from __future__ import annotations

from typing import Any

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "progress": "Question {position} of {total}",
        "begin": "Begin ▶",
        "back": "◀ Back",
        "skip": "Skip ▶",
        "done": "Done ✓",
        "yes": "Yes",
        "no": "No",
        "type_number": "Type a number{hint}.",
        "type_text": "Type your answer (up to {max} characters).",
        "choose_many": "Choose {range}, then press Done.",
        "choose_range": "{low} to {high}",
        "choose_up_to": "up to {high}",
        "scale_ends": "1 = {low} · {points} = {high}",
        "skipped": "skipped",
        "your_profile": "Your profile",
        "your_segment": "Your segment",
        "thanks": "Thank you for taking part!",
    },
    "de": {
        "progress": "Frage {position} von {total}",
        "begin": "Los geht's ▶",
        "back": "◀ Zurück",
        "skip": "Überspringen ▶",
        "done": "Fertig ✓",
        "yes": "Ja",
        "no": "Nein",
        "type_number": "Bitte eine Zahl eingeben{hint}.",
        "type_text": "Bitte Antwort eingeben (bis zu {max} Zeichen).",
        "choose_many": "Wähle {range} und tippe dann auf Fertig.",
        "choose_range": "{low} bis {high}",
        "choose_up_to": "bis zu {high}",
        "scale_ends": "1 = {low} · {points} = {high}",
        "skipped": "übersprungen",
        "your_profile": "Dein Profil",
        "your_segment": "Dein Segment",
        "thanks": "Danke fürs Mitmachen!",
    },
}


def t(language: str | None, key: str, **values: Any) -> str:
    """Return the bot text ``key`` in ``language`` (English when not translated)."""
    table = _TEXTS.get((language or "en").split("-", 1)[0], _TEXTS["en"])
    return table.get(key, _TEXTS["en"][key]).format(**values)
