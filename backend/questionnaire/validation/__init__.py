"""Validate a parsed definition: shape (pydantic), then cross-references and ranges.

Every problem becomes a :class:`DefinitionIssue` with the path and line of the node at
fault; all of them are collected so an author fixes a file in one pass. The shape's messages
are in :mod:`.shape`; the cross-reference checks in :mod:`.checker` (languages, ids,
questions), :mod:`.conditions` and :mod:`.scoring`; Telegram's limits in :mod:`.limits`.
"""

from __future__ import annotations

from backend.questionnaire import schema as s
from backend.questionnaire.loader import LineMap
from backend.questionnaire.validation.checker import Checker
from backend.questionnaire.validation.conditions import ConditionChecker
from backend.questionnaire.validation.limits import TelegramChecker
from backend.questionnaire.validation.scoring import ScoringChecker
from backend.questionnaire.validation.shape import shape_issues, without_unknown_keys

__all__ = ["semantic_issues", "shape_issues", "without_unknown_keys"]


def semantic_issues(definition: s.QuestionnaireDefinition, lines: LineMap) -> list:
    """Check ids, references, conditions, scoring keys and ranges of a well-shaped definition,
    and that every message and button fits Telegram's limits."""
    checker = Checker(definition, lines)
    telegram = TelegramChecker(checker)
    telegram.check_counts()
    if checker.issues:  # too big to check further in reasonable time
        return checker.issues
    telegram.run()
    checker.check_languages()
    checker.check_ids()
    ConditionChecker(checker).check_conditions()
    scoring = ScoringChecker(checker)
    scoring.check_dimensions()
    scoring.check_segmentation()
    return sorted(checker.issues, key=lambda i: (i.line or 0, i.location))
