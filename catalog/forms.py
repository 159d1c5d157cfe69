"""Operator forms (交易中心). Fields are plain text: the services parse and validate every
figure (pages and API share one set of rules and Chinese messages); the forms carry CSRF and
render the inputs."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField

from .models import AGREEMENT_KINDS, SECOND_STAGE
from .policy import SPLIT_ACTIONS

DATE = {"type": "date"}
MONEY = {"inputmode": "decimal"}


class PolicyForm(FlaskForm):
    name = StringField("版本名称", description="如“2026年版”", render_kw={"maxlength": 100})
    effective_from = StringField("生效日期", render_kw=DATE)
    effective_to = StringField("截止日期（含当日，留空为长期有效）", render_kw=DATE)
    decentralized_threshold_goods = StringField("货物分散采购限额标准（元）", render_kw=MONEY,
                                                description="达到此金额属于政府采购，须采用法定采购方式")
    decentralized_threshold_services = StringField("服务分散采购限额标准（元）", render_kw=MONEY)
    decentralized_threshold_works = StringField("工程分散采购限额标准（元）", render_kw=MONEY)
    open_tender_threshold_goods = StringField("货物公开招标数额标准（元）", render_kw=MONEY)
    open_tender_threshold_services = StringField("服务公开招标数额标准（元）", render_kw=MONEY)
    open_tender_threshold_works = StringField("工程公开招标数额标准（元）", render_kw=MONEY)
    direct_purchase_limit = StringField("单笔直购限额（元）", render_kw=MONEY,
                                        description="单笔订单超过此金额须改为二次竞价")
    sme_price_deduction = StringField("中小企业价格扣除比例（%）", render_kw=MONEY,
                                      description="财库〔2022〕19号：小微企业价格扣除10%–20%")
    split_window_days = StringField("拆分识别时间窗（天）", render_kw={"inputmode": "numeric"},
                                    description="同一单位同一品目在此期间内的累计金额用于识别化整为零")
    split_action = SelectField("拆分处置方式", choices=list(SPLIT_ACTIONS.items()), validate_choice=False)
    cumulative_warning_ratio = StringField("累计金额预警比例（%）", render_kw=MONEY,
                                           description="累计金额达到限额标准的该比例时提示采购人")
    items = TextAreaField("集中采购品目", render_kw={"rows": 10, "class": "font-monospace"},
                          description="每行一个：品目编码 起点金额（无金额条件填“-”） 备注，"
                                      "例如“A02020400 50000 多功能一体机单项或批量5万元以上”")
    note = TextAreaField("说明", render_kw={"rows": 2})
    submit = SubmitField("保存")


class PublishForm(FlaskForm):
    note = StringField("发布说明")
    submit = SubmitField("发布")


class AgreementForm(FlaskForm):
    number = StringField("协议编号", description="如 FA-2026-001", render_kw={"maxlength": 50})
    title = StringField("协议名称", render_kw={"maxlength": 200})
    kind = SelectField("协议类型", choices=list(AGREEMENT_KINDS.items()), validate_choice=False,
                       description="封闭式：协议期内不得增加入围供应商；开放式：供应商可随时申请加入、自由退出")
    subject = SelectField("采购标的", choices=[("goods", "货物（期限不超过1年）"), ("services", "服务（期限不超过2年）")],
                          validate_choice=False)
    zone_code = SelectField("所属专区", validate_choice=False)
    second_stage = SelectField("第二阶段成交方式", choices=list(SECOND_STAGE.items()), validate_choice=False)
    term_start = StringField("协议期限起始日期", render_kw=DATE)
    term_end = StringField("协议期限截止日期", render_kw=DATE)
    categories = TextAreaField("覆盖品目编码", render_kw={"rows": 3, "class": "font-monospace"},
                               description="可填多个，以空格、逗号或换行分隔，如“A02010105 A02010108”")
    procuring_body = StringField("征集人", description="如“××市公共资源交易中心”")
    description = TextAreaField("协议说明", render_kw={"rows": 4})
    submit = SubmitField("保存")


class StatusForm(FlaskForm):
    to = HiddenField()
    note = StringField("原因 / 说明")


class EntrantForm(FlaskForm):
    supplier = StringField("供应商", description="统一社会信用代码、单位ID或完整名称")
    note = StringField("入围依据 / 说明")
    submit = SubmitField("加入入围供应商")


class PriceForm(FlaskForm):
    supplier_id = SelectField("入围供应商", validate_choice=False)
    category_code = StringField("品目编码", render_kw={"class": "font-monospace"})
    brand = StringField("品牌")
    model = StringField("型号")
    max_price = StringField("最高限制单价（元）", render_kw=MONEY)
    discount_note = StringField("优惠说明", description="如“批量10台以上再优惠3%”")
    submit = SubmitField("录入协议价格")


class BulkPriceForm(FlaskForm):
    supplier_id = SelectField("入围供应商", validate_choice=False)
    lines = TextAreaField("批量录入", render_kw={"rows": 6, "class": "font-monospace"},
                          description="每行一个型号：品牌, 型号, 最高限制单价[, 品目编码][, 优惠说明]，"
                                      "全部校验通过才保存")
    submit = SubmitField("批量录入")


class SolicitationForm(FlaskForm):
    category_code = StringField("品目编码", render_kw={"class": "font-monospace"})
    title = StringField("征集名称")
    conditions = TextAreaField("征集条件", render_kw={"rows": 3},
                               description="供应商须满足的资格、质量和服务条件")
    valid_from = StringField("开始日期", render_kw=DATE)
    valid_to = StringField("截止日期（留空为长期）", render_kw=DATE)
    submit = SubmitField("发布征集")
