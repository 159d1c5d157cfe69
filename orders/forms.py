"""Forms of the buying pages (CSRF-protected; services validate everything again)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from .rules import MAX_QUANTITY


class AddToCartForm(FlaskForm):
    product_id = IntegerField("商品", validators=[InputRequired(message="缺少商品编号")])
    quantity = IntegerField("数量", default=1, validators=[
        InputRequired(message="请填写数量"),
        NumberRange(min=1, max=MAX_QUANTITY, message=f"数量须在1至{MAX_QUANTITY}之间")])
    next = HiddenField()


class CartItemForm(FlaskForm):
    item_id = IntegerField("购物车商品", validators=[InputRequired()])
    quantity = IntegerField("数量", validators=[Optional(), NumberRange(min=1, max=MAX_QUANTITY,
                                                                        message=f"数量须在1至{MAX_QUANTITY}之间")])
    action = StringField("操作", default="update", validators=[
        Optional(), AnyOf(["update", "remove", "accept_price"], message="未知的购物车操作")])


class CheckoutForm(FlaskForm):
    """Per-group fields (budget_<key>, payment_<key>, note_<key>) are read from the request."""
    token = HiddenField(validators=[DataRequired(message="页面已过期，请刷新购物车后重新提交"), Length(max=64)])
    group = HiddenField(validators=[Optional(), Length(max=60)])


class TransitionForm(FlaskForm):
    to = HiddenField(validators=[DataRequired(), Length(max=20)])
    note = TextAreaField("说明", validators=[Optional(), Length(max=1000, message="说明不能超过1000字")])
