"""orders: (unit, budget year, placed at) and (order, 品目) indexes for the checkout's order history

Rules 4 (cumulative) and 5 (splitting) read a unit's orders of the budget year and their lines of
the 品目 in the cart on every checkout. Without these indexes PostgreSQL, before its statistics
exist, walked every order line of the 品目 for each of the unit's orders: 64 ms at 755 orders, and
growing with the city's orders, instead of 0.2 ms.

The single-column 品目 index of order_line goes: with it, PostgreSQL without statistics (a new or
freshly restored database under load) still drove the join from every line of the 品目 and put the
order id in a join filter (57 ms at 978 orders, growing with the square of a unit's orders); without
it the only way in is the unit's orders, then (order, 品目): 2.3 ms. Nothing reads lines by 品目
alone: the statistics join the year's orders first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 11:40:00

"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.create_index('ix_order_unit_year', ['buyer_unit_id', 'budget_year', 'placed_at'], unique=False)
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.create_index('ix_order_line_order_category', ['order_id', 'category_code'], unique=False)
        batch_op.drop_index('ix_order_line_order_id')
        batch_op.drop_index('ix_order_line_category_code')


def downgrade():
    with op.batch_alter_table('order_line', schema=None) as batch_op:
        batch_op.create_index('ix_order_line_category_code', ['category_code'], unique=False)
        batch_op.create_index('ix_order_line_order_id', ['order_id'], unique=False)
        batch_op.drop_index('ix_order_line_order_category')
    with op.batch_alter_table('purchase_order', schema=None) as batch_op:
        batch_op.drop_index('ix_order_unit_year')
