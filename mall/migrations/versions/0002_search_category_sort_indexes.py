"""search: (品目, price) and (品目, sales) indexes for browsing a 品目 sorted by price or sales

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:30:00

"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('search_doc', schema=None) as batch_op:
        batch_op.create_index('ix_search_doc_category_price', ['category_code', 'price'], unique=False)
        batch_op.create_index('ix_search_doc_category_sales', ['category_code', 'sales_count'], unique=False)


def downgrade():
    with op.batch_alter_table('search_doc', schema=None) as batch_op:
        batch_op.drop_index('ix_search_doc_category_sales')
        batch_op.drop_index('ix_search_doc_category_price')
