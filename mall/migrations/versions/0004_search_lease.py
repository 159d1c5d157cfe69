"""search: the lease that lets one outbox drain (or one reindex) write to Elasticsearch at a time

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 06:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'search_lease',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('holder', sa.String(length=64), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_search_lease')),
    )


def downgrade():
    op.drop_table('search_lease')
