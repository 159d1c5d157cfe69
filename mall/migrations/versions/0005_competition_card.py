"""competition: the official card token an awarded card order is held on

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 07:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('competition', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_payment_method', sa.String(length=210), nullable=True))


def downgrade():
    with op.batch_alter_table('competition', schema=None) as batch_op:
        batch_op.drop_column('card_payment_method')
