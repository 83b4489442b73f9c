"""Live 转人工 messages (bot.case_service.handoff_store): what the person typed after a handoff and
what staff replied, deleted with their case.

Databases that already have the table (created at start by the versions between the first revision
and this one) keep it and its rows.

Revision ID: cases_0002
Revises: cases_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "cases_0002"
down_revision = "cases_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("handoff_messages"):
        return
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_handoff_messages_case_id", "handoff_messages", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_messages_case_id", table_name="handoff_messages")
    op.drop_table("handoff_messages")
