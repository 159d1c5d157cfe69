from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField, IntegerField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Email, Regexp


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])
    submit = SubmitField("登录")


class SupplierRegisterForm(FlaskForm):
    company_name = StringField("企业名称", validators=[DataRequired("请输入企业名称"), Length(max=200)])
    uscc = StringField("统一社会信用代码", validators=[DataRequired("请输入统一社会信用代码"), Length(max=30)])
    contact_name = StringField("联系人", validators=[DataRequired("请输入联系人"), Length(max=50)])
    contact_phone = StringField("联系电话", validators=[
        DataRequired("请输入联系电话"), Regexp(r"^[0-9+\-() ]{7,20}$", message="电话号码格式不正确")])
    email = EmailField("电子邮箱", validators=[Optional(), Email("邮箱格式不正确"), Length(max=200)])
    address = StringField("地址", validators=[Optional(), Length(max=300)])
    username = StringField("登录用户名", validators=[DataRequired("请输入用户名"), Length(min=3, max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(min=8, max=200, message="密码至少8位")])
    confirm = PasswordField("确认密码", validators=[EqualTo("password", "两次输入的密码不一致")])
    submit = SubmitField("注册")


class TokenForm(FlaskForm):
    name = StringField("令牌名称", validators=[DataRequired("请输入令牌名称"), Length(max=100)])
    submit = SubmitField("生成令牌")


class PasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码"), Length(min=8, max=200, message="密码至少8位")])
    confirm = PasswordField("确认新密码", validators=[EqualTo("password", "两次输入的密码不一致")])
    submit = SubmitField("修改密码")


class OrganisationForm(FlaskForm):
    kind = SelectField("单位类型", choices=[("budget_unit", "预算单位"), ("finance_bureau", "财政局"),
                                         ("trading_center", "交易中心")])
    name = StringField("单位名称", validators=[DataRequired("请输入单位名称"), Length(max=200)])
    uscc = StringField("统一社会信用代码", validators=[DataRequired("请输入统一社会信用代码"), Length(max=30)])
    parent_id = IntegerField("上级单位ID", validators=[Optional()])
    region_name = StringField("所属地区", validators=[Optional(), Length(max=100)])
    contact_name = StringField("联系人", validators=[Optional(), Length(max=50)])
    contact_phone = StringField("联系电话", validators=[Optional(), Length(max=30)])
    submit = SubmitField("创建单位")


class UserCreateForm(FlaskForm):
    organisation_id = SelectField("所属单位", coerce=int, validate_choice=False)
    role = SelectField("角色", choices=[("buyer", "采购人"), ("auditor", "监管人员"), ("operator", "运营人员")])
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(min=3, max=64)])
    display_name = StringField("姓名", validators=[DataRequired("请输入姓名"), Length(max=100)])
    email = EmailField("电子邮箱", validators=[Optional(), Email("邮箱格式不正确")])
    password = PasswordField("初始密码", validators=[DataRequired("请输入初始密码"), Length(min=8, max=200, message="密码至少8位")])
    submit = SubmitField("创建用户")
