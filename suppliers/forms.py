"""Forms of the supplier storefront (Flask-WTF, CSRF on every form).

Money and quantities are text fields on purpose: the services parse them with the same rules
as the API and the xlsx import, so every channel gives the same Chinese messages.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from .models import INDUSTRIES, SIZE_LABELS

ZONE_CHOICES = [SelectChoice("self", "自采区"), SelectChoice("central", "集采区"), SelectChoice("pavilion", "特色馆")]


class ProductForm(FlaskForm):
    title = StringField("商品名称", validators=[DataRequired("请输入商品名称"), Length(max=200, message="商品名称最多200字")])
    zone = SelectField("专区", choices=ZONE_CHOICES,
                       description="须符合所选专区的上架规则（见“专区上架规则”）")
    category_code = StringField("品目编码", validators=[DataRequired("请输入品目编码"), Length(max=12)],
                                description="《政府采购品目分类目录》（2022年版）编码，如 A02010105 台式计算机")
    brand = StringField("品牌", validators=[Optional(), Length(max=100)], description="集采区必填，须与协议价一致")
    model = StringField("型号", validators=[Optional(), Length(max=100)], description="集采区必填，须与协议价一致")
    manufacturer = StringField("制造商", validators=[Optional(), Length(max=200)])
    unit = StringField("计量单位", default="件", validators=[Optional(), Length(max=10)])
    price = StringField("单价（元）", validators=[DataRequired("请输入单价")])
    market_price = StringField("市场参考价（元）", validators=[Optional()],
                               description="可选；用于价格诚信监测与节约资金计算")
    stock = StringField("库存", default="0", validators=[DataRequired("请输入库存")])
    specs = TextAreaField("规格参数", validators=[Optional(), Length(max=12000)],
                          description="每行一项，格式“属性: 值”，如“CPU: i5-12500”", render_kw={"rows": 5})
    description = TextAreaField("商品描述", validators=[Optional(), Length(max=20000)], render_kw={"rows": 5})
    list_now = BooleanField("保存后立即上架")
    submit = SubmitField("保存")


class QuickEditForm(FlaskForm):
    price = StringField("单价", validators=[DataRequired("请输入单价")])
    stock = StringField("库存", validators=[DataRequired("请输入库存")])
    submit = SubmitField("更新")


class ListActionForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])


class ImageForm(FlaskForm):
    image = FileField("商品图片", description="JPEG、PNG 或 WebP，单张不超过 2 MB，每个商品最多10张")
    submit = SubmitField("上传")


class ImageActionForm(FlaskForm):
    image_id = HiddenField(validators=[DataRequired()])
    action = HiddenField(validators=[DataRequired()])


class ImportForm(FlaskForm):
    file = FileField("导入文件（.xlsx）")
    dry_run = BooleanField("仅校验，不导入")
    submit = SubmitField("上传并导入")


class DeclarationForm(FlaskForm):
    industry = SelectField("所属行业", choices=[SelectChoice("", "请选择行业")] + [SelectChoice(k, v) for k, v in INDUSTRIES.items()],
                           validators=[DataRequired("请选择所属行业")])
    year = StringField("数据所属年度", validators=[DataRequired("请输入年度")],
                       description="一般为上一年度（如 2024）；新成立企业填成立当年")
    staff = StringField("从业人员（人）", validators=[DataRequired("请输入从业人员人数")])
    revenue = StringField("营业收入（万元）", validators=[DataRequired("请输入营业收入")])
    total_assets = StringField("资产总额（万元）", validators=[DataRequired("请输入资产总额")])
    manufacturer_name = StringField("货物制造商名称", validators=[Optional(), Length(max=200)],
                                    description="提供货物的，填写货物制造商；服务类可不填")
    manufacturer_size = SelectField("制造商企业规模", choices=[SelectChoice("", "—")] + [SelectChoice(k, v) for k, v in SIZE_LABELS.items()],
                                    validators=[Optional()],
                                    description="货物须由中小企业制造方可享受中小企业扶持政策")
    confirm = BooleanField("本企业对上述声明内容的真实性负责，如有虚假，将依法承担相应责任",
                           validators=[DataRequired("请确认声明内容真实")])
    submit = SubmitField("提交声明函")


class AgreementApplyForm(FlaskForm):
    agreement_id = HiddenField(validators=[DataRequired()])
    submit = SubmitField("申请加入")


class PavilionForm(FlaskForm):
    county = StringField("注册所在县（区）", validators=[DataRequired("请填写注册所在县（区）"), Length(max=100)],
                         description="如：甘肃省临夏州东乡族自治县")
    note = TextAreaField("申请说明", validators=[Optional(), Length(max=500, message="申请说明最多500字")],
                         description="主营产品、产地、帮扶关系或推荐单位等", render_kw={"rows": 4})
    submit = SubmitField("提交申请")
