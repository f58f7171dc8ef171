"""Completed sessions' results count as shown

A result is now marked shown once it reached the respondent, so that one lost to a crash is
sent again when Telegram redelivers the completing update. The results of sessions completed
before this revision went out under the old rules: they are marked shown here, or the next
redelivered update of their respondents would send them again.

Revision ID: 0009_results_shown
Revises: 0005_soft_membership
Create Date: 2026-12-07 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_results_shown"
down_revision: str | Sequence[str] | None = "0005_soft_membership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE quizsession SET shown = '#result' WHERE status = 'completed'"))


def downgrade() -> None:
    # Before this revision a completed session's marker was its last question's; which
    # one is not kept, and nothing read it then.
    op.execute(sa.text("UPDATE quizsession SET shown = NULL WHERE shown = '#result'"))
