"""A small, realistic mall for page tests and the browser walk (built with tests/factories.py).

Five suppliers (SME and large, one suspended, one 特色馆 cooperative, one awaiting pavilion
review), two framework agreements (one expiring within 30 days) and an open one with a pending
application, ~40 products across the three zones with price histories, one over-priced listing,
low stock, budget lines, and one user per role (password ``factories.PASSWORD``).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from mall.extensions import db
from mall.timeutil import today, utcnow

USERNAMES = {"buyer": "zhangwei", "supplier": "dingxin", "auditor": "lina", "operator": "wangqiang"}

def _item(code, brand, model, title, price, market, *more):
    return (code, brand, model, title, price, market, *more)


CENTRAL = [
    # (category, brand, model, title, price, market, ceiling, specs)
    _item("A02010105", "联想", "启天M437", "联想 启天M437 台式计算机（i5-12500/16G/512G SSD/23.8英寸）",
          "4999.00", "5699.00", "5200.00",
          {"处理器": "Intel 酷睿 i5-12500", "内存": "16GB DDR4", "硬盘": "512GB SSD", "显示器": "23.8英寸",
           "操作系统": "国产操作系统"}),
    _item("A02010105", "华为", "擎云B730E", "华为 擎云B730E 台式计算机（i5/8G/256G+1T/23.8英寸）",
          "4650.00", "5199.00", "4800.00",
          {"处理器": "Intel 酷睿 i5-10500", "内存": "8GB", "硬盘": "256GB SSD + 1TB HDD"}),
    _item("A02010105", "长城", "世恒DF700", "长城 世恒DF700 国产台式计算机（飞腾D2000/16G/512G）",
          "5380.00", "5980.00", "5500.00",
          {"处理器": "飞腾 D2000 八核", "内存": "16GB", "硬盘": "512GB SSD", "操作系统": "统信UOS"}),
    _item("A02010108", "联想", "ThinkPad E14", "联想 ThinkPad E14 便携式计算机（i5-1340P/16G/512G）",
          "5899.00", "6499.00", "6200.00",
          {"处理器": "Intel 酷睿 i5-1340P", "内存": "16GB", "硬盘": "512GB SSD", "屏幕": "14英寸 2.2K"}),
    _item("A02010108", "华为", "MateBook D16", "华为 MateBook D16 便携式计算机（i5/16G/512G）",
          "5299.00", "5799.00", "5400.00",
          {"处理器": "Intel 酷睿 i5-12450H", "内存": "16GB", "屏幕": "16英寸"}),
    _item("A02021003", "惠普", "LaserJet Pro M405d", "惠普 LaserJet Pro M405d A4黑白激光打印机（自动双面）",
          "1980.00", "2299.00", "2100.00", {"打印速度": "38页/分钟", "双面": "自动双面", "接口": "USB 2.0"}),
    _item("A02021003", "奔图", "P3325DN", "奔图 P3325DN A4黑白激光打印机（国产/双面/网络）",
          "1380.00", "1599.00", "1450.00", {"打印速度": "33页/分钟", "双面": "自动双面", "网络": "有线网络"}),
]
SELF = [
    # (category, brand, model, title, price, market, specs)
    _item("A05010201", "震旦", "AD-1400", "震旦 AD-1400 钢木办公桌 1.4米（含活动柜）", "1280.00", "1480.00",
          {"材质": "钢木", "尺寸": "1400×700×750mm"}),
    _item("A05010201", "圣奥", "SA-D1600", "圣奥 SA-D1600 主管办公桌 1.6米", "2360.00", "2690.00",
          {"材质": "E1级板材", "尺寸": "1600×800×760mm"}),
    _item("A05010301", "永艺", "YY-818", "永艺 YY-818 人体工学办公椅（网布/可调扶手）", "699.00", "899.00",
          {"材质": "网布", "扶手": "3D可调"}),
    _item("A05010301", "震旦", "AC-202", "震旦 AC-202 职员办公椅（皮面/固定扶手）", "520.00", "560.00",
          {"材质": "PU皮"}),
    _item("A05040101", "得力", "DL-A470", "得力 A4 复印纸 70g 500张/包 8包/箱", "168.00", "185.00",
          {"规格": "A4 70g", "包装": "8包/箱"}),
    _item("A05040101", "晨光", "APYVQ959", "晨光 A4 复印纸 80g 500张/包 5包/箱", "135.00", "149.00",
          {"规格": "A4 80g", "包装": "5包/箱"}),
    _item("A02061804", "格力", "KFR-35GW", "格力 KFR-35GW 1.5匹 壁挂式空调（一级能效/变频）", "3199.00", "3599.00",
          {"能效": "一级", "匹数": "1.5匹"}),
    _item("A02061804", "美的", "KFR-72LW", "美的 KFR-72LW 3匹 立柜式空调（新一级能效）", "6899.00", "7399.00",
          {"能效": "一级", "匹数": "3匹"}),
]
PAVILION = [
    _item("A07031201", "东乡", "DX-TD5", "甘肃东乡 高原土豆 5kg/箱（脱贫地区农副产品）", "39.90", "45.00",
          {"产地": "甘肃省临夏州东乡族自治县", "规格": "5kg/箱"}),
    _item("A07031202", "东乡", "DX-MG1", "东乡 干香菇 1kg/袋（脱贫地区农副产品）", "86.00", "98.00",
          {"产地": "甘肃省临夏州", "规格": "1kg/袋"}),
    _item("A07031301", "安溪", "AX-TGY", "安溪 铁观音 清香型 500g/盒", "168.00", "198.00",
          {"产地": "福建省泉州市安溪县", "规格": "500g"}),
]


def seed() -> dict:
    """Build the mall; returns ids the tests use. Call inside an app context."""
    from tests import factories as f
    from catalog.models import AgreementSupplier, PriceHistory
    from suppliers.models import SmeDeclaration, SupplierProfile

    f.policy(name="福州市2025年版集中采购目录及标准")
    dingxin = f.supplier_org(name="福州鼎信办公设备有限公司", sme_size="small",
                             region_name="福建省福州市鼓楼区", contact_name="陈敏", contact_phone="0591-87650001")
    lenovo = f.supplier_org(name="联想（北京）信息技术有限公司", sme_size="large", region_name="北京市海淀区")
    minsheng = f.supplier_org(name="福建闽盛家具制造有限公司", sme_size="micro", region_name="福建省福州市闽侯县")
    dongxiang = f.supplier_org(name="东乡县高原农产品专业合作社", sme_size="micro", pavilion_status="qualified",
                               region_name="甘肃省临夏州东乡族自治县")
    haiyun = f.supplier_org(name="厦门海云贸易有限公司", sme_size="medium", status="suspended")
    db.session.get(SupplierProfile, haiyun.id).status_reason = "抽查发现多款商品价格明显高于市场价，暂停交易整改"
    pending = f.supplier_org(name="宁德寿宁县茶业有限公司", sme_size="small", pavilion_status="applied")
    prof = db.session.get(SupplierProfile, pending.id)
    prof.pavilion_county = "福建省宁德市寿宁县"
    prof.pavilion_note = "原国定脱贫县，申请入驻特色馆销售高山茶叶"
    db.session.add(SmeDeclaration(supplier_id=dingxin.id, industry="wholesale", year=today().year - 1,
                                  staff=36, revenue=Decimal("28600000"), total_assets=Decimal("9200000"),
                                  size="small", is_current=True))
    db.session.commit()

    start = today() - dt.timedelta(days=120)
    computers = f.agreement(categories=("A02010105", "A02010108"), suppliers=(dingxin, lenovo),
                            number="FZ-KJ-2025-001", term_start=start,
                            term_end=start + dt.timedelta(days=364),
                            prices=[(dingxin if i % 2 == 0 else lenovo, c[1], c[2], c[6], c[0])
                                    for i, c in enumerate(CENTRAL) if c[0].startswith("A020101")])
    computers.title = "福州市2025年度台式计算机、便携式计算机框架协议"
    computers.procuring_body = "福州市公共资源交易中心"
    printers = f.agreement(categories=("A02021000",), suppliers=(dingxin,), number="FZ-KJ-2025-002",
                           term_start=today() - dt.timedelta(days=340),
                           term_end=today() + dt.timedelta(days=12),
                           prices=[(dingxin, c[1], c[2], c[6], c[0]) for c in CENTRAL
                                   if c[0].startswith("A0202")])
    printers.title = "福州市2025年度打印机框架协议"
    furniture = f.agreement(categories=("A05010201",), suppliers=(), number="FZ-KF-2025-003", kind="open",
                            term_start=today() - dt.timedelta(days=30),
                            term_end=today() + dt.timedelta(days=330))
    furniture.title = "福州市办公家具开放式框架协议"
    furniture.entrants.append(AgreementSupplier(supplier_id=minsheng.id, status="applied",
                                                applied_at=utcnow()))
    db.session.commit()

    prices = {(ap.brand, ap.model): ap for a in (computers, printers) for ap in a.prices}
    products = []
    for i, (code, brand, model, title, price, market, _ceiling, specs) in enumerate(CENTRAL):
        ap = prices[(brand, model)]
        supplier = dingxin if ap.supplier_id == dingxin.id else lenovo
        products.append(f.product(supplier, zone="central", category_code=code, price=price,
                                  market_price=Decimal(market), title=title, brand=brand, model=model,
                                  agreement_price=ap, specs=specs, manufacturer=f"{brand}（中国）有限公司",
                                  unit="台", stock=3 if i == 0 else 40 + i, sales_count=180 - i * 17,
                                  description="原厂正品，全国联保三年，含上门安装调试。"))
    for i, (code, brand, model, title, price, market, specs) in enumerate(SELF):
        supplier = minsheng if code.startswith("A0501") else dingxin
        unit = {"A05040101": "箱", "A05010301": "把", "A02061804": "台"}.get(code, "张")
        products.append(f.product(supplier, zone="self", category_code=code, price=price,
                                  market_price=Decimal(market), title=title, brand=brand, model=model,
                                  specs=specs, unit=unit, stock=25 + i, sales_count=120 - i * 9,
                                  manufacturer=f"{brand}集团"))
    for i, (code, brand, model, title, price, market, specs) in enumerate(PAVILION):
        products.append(f.product(dongxiang, zone="pavilion", category_code=code, price=price,
                                  market_price=Decimal(market), title=title, brand=brand, model=model,
                                  specs=specs,
                                  unit="箱" if "箱" in title else "袋", stock=200, sales_count=90 - i * 10))
    # more desks and chairs so listings page (PAGE_SIZE 24)
    for n in range(14):
        products.append(f.product(minsheng, zone="self", category_code="A05010301" if n % 2 else "A05010201",
                                  price=str(400 + n * 35), market_price=Decimal(str(460 + n * 40)),
                                  title=f"闽盛 {'职员椅' if n % 2 else '职员桌'} MS-{100 + n} 福州本地制造",
                                  brand="闽盛", model=f"MS-{100 + n}", unit="把" if n % 2 else "张", stock=60,
                                  sales_count=n))
    # an over-priced listing (risk view) and products of the suspended supplier (not sellable)
    toner = f.product(dingxin, zone="self", category_code="A05040101", price="899.00",
                      market_price=Decimal("520.00"), title="复印纸 A3 80g 高白 500张/包 5包/箱（进口）",
                      brand="亚太森博", model="PaperOne-A3", unit="箱", stock=8, sales_count=2)
    hidden = f.product(haiyun, zone="self", category_code="A05010301", price="1999.00",
                       market_price=Decimal("900.00"), title="海云 豪华老板椅 HY-9", brand="海云", model="HY-9")
    draft = f.product(dingxin, zone="self", category_code="A05040101", price="150.00", status="draft",
                      title="得力 A4 复印纸 75g（待上架）", brand="得力", model="DL-A475")
    # price history: the first desktop was cut twice, the laptop raised once
    now = utcnow()
    for product, changes in ((products[0], ((100, "5399.00"), (60, "5199.00"), (20, "4999.00"))),
                             (products[3], ((90, "5699.00"), (30, "5899.00")))):
        for days, price in changes:
            db.session.add(PriceHistory(product_id=product.id, price=Decimal(price),
                                        changed_at=now - dt.timedelta(days=days)))
    db.session.commit()

    unit = f.org("budget_unit", name="福州市教育局", region_name="福建省福州市")
    buyer = f.user("buyer", organisation=unit, username=USERNAMES["buyer"], display_name="张伟")
    lines = [f.budget_line(unit, amount="500000.00", project_code="FZJY-2025-017"),
             f.budget_line(unit, amount="120000.00", project_code="FZJY-2025-031")]
    lines[0].reserved, lines[0].spent = Decimal("48500.00"), Decimal("126300.00")
    lines[1].project_name = "教学办公耗材"
    lines[1].economic_class, lines[1].economic_class_name = "30201", "办公费"
    db.session.commit()
    supplier = f.user("supplier", organisation=dingxin, username=USERNAMES["supplier"], display_name="陈敏")
    bureau = f.org("finance_bureau", name="福州市财政局")
    auditor = f.user("auditor", organisation=bureau, username=USERNAMES["auditor"], display_name="李娜")
    center = f.org("trading_center", name="福州市公共资源交易中心")
    operator = f.user("operator", organisation=center, username=USERNAMES["operator"], display_name="王强")
    return {"products": [p.id for p in products], "desktop": products[0].id, "laptop": products[3].id,
            "printer_agreement": printers.id, "computers_agreement": computers.id,
            "furniture_agreement": furniture.id, "toner": toner.id, "hidden": hidden.id, "draft": draft.id,
            "dingxin": dingxin.id, "haiyun": haiyun.id, "lenovo": lenovo.id, "pending_pavilion": pending.id,
            "users": {"buyer": buyer.id, "supplier": supplier.id, "auditor": auditor.id,
                      "operator": operator.id},
            "budget_lines": [b.id for b in lines], "unit": unit.id}
