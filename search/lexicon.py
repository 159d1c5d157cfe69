"""Search vocabulary of the procurement domain: brand aliases, 品目 aliases, buyer synonyms.

Brands and 品目 names also go into the segmenter's user dictionary (``search.text``), so that
"联想ThinkPad" is cut into 联想 / thinkpad and "多功能一体机" stays one word.  Aliases are added
to a document at indexing time (one place, both engines), so a buyer typing 笔记本 finds the
品目 便携式计算机 and a buyer typing "hp" finds 惠普.
"""
from __future__ import annotations

from functools import lru_cache

# Chinese brand → Latin names and common short forms buyers type.
BRAND_ALIASES: dict[str, tuple[str, ...]] = {
    "联想": ("lenovo",),
    "惠普": ("hp", "hewlett packard"),
    "戴尔": ("dell",),
    "华为": ("huawei",),
    "华硕": ("asus",),
    "宏碁": ("acer",),
    "苹果": ("apple",),
    "小米": ("xiaomi", "mi"),
    "荣耀": ("honor",),
    "清华同方": ("tongfang", "同方"),
    "长城": ("greatwall",),
    "浪潮": ("inspur",),
    "曙光": ("sugon",),
    "新华三": ("h3c", "华三"),
    "锐捷": ("ruijie",),
    "中兴": ("zte",),
    "思科": ("cisco",),
    "海康威视": ("hikvision", "海康"),
    "大华": ("dahua",),
    "佳能": ("canon",),
    "爱普生": ("epson",),
    "兄弟": ("brother",),
    "理光": ("ricoh",),
    "京瓷": ("kyocera",),
    "富士胶片": ("fujifilm", "富士施乐", "fujixerox"),
    "柯尼卡美能达": ("konica", "minolta"),
    "夏普": ("sharp",),
    "东芝": ("toshiba",),
    "奔图": ("pantum",),
    "震旦": ("aurora",),
    "得力": ("deli",),
    "晨光": ("m&g", "mg"),
    "齐心": ("comix",),
    "格力": ("gree",),
    "美的": ("midea",),
    "海尔": ("haier",),
    "海信": ("hisense",),
    "奥克斯": ("aux",),
    "大金": ("daikin",),
    "明基": ("benq",),
    "飞利浦": ("philips",),
    "三星": ("samsung",),
    "索尼": ("sony",),
    "松下": ("panasonic",),
    "希沃": ("seewo",),
    "科大讯飞": ("iflytek", "讯飞"),
    "金山": ("wps", "kingsoft"),
    "用友": ("yonyou",),
    "金蝶": ("kingdee",),
    "深信服": ("sangfor",),
    "奇安信": ("qianxin",),
    "天融信": ("topsec",),
    "紫光": ("unis", "unisplendour"),
    "西部数据": ("wd", "western digital"),
    "希捷": ("seagate",),
    "闪迪": ("sandisk",),
    "金士顿": ("kingston",),
    "罗技": ("logitech",),
    "雷柏": ("rapoo",),
    "双飞燕": ("a4tech",),
    "优派": ("viewsonic",),
    "宝利通": ("polycom",),
    "亚都": ("yadu",),
    "科沃斯": ("ecovacs",),
    "九阳": ("joyoung",),
    "苏泊尔": ("supor",),
    "五粮液": ("wuliangye",),
    "中粮": ("cofco",),
    "金龙鱼": ("arawana",),
    "福临门": ("fortune",),
    "五常": ("wuchang",),
    "亚振": ("yazhen",),
    "圣奥": ("sunon",),
    "科誉": ("keyu",),
    "光明": ("bright",),
    "伊利": ("yili",),
    "蒙牛": ("mengniu",),
}

# 品目 code (or the code of an ancestor) → words buyers use for it.
CATEGORY_ALIASES: dict[str, tuple[str, ...]] = {
    "A02010104": ("服务器", "server", "机架式服务器", "塔式服务器"),
    "A02010105": ("台式机", "台式电脑", "电脑主机", "pc", "desktop", "电脑"),
    "A02010108": ("笔记本", "笔记本电脑", "手提电脑", "laptop", "notebook", "电脑"),
    "A02010109": ("平板", "平板电脑", "tablet", "pad"),
    "A02010201": ("路由器", "router"),
    "A02010202": ("交换机", "switch", "以太网交换机"),
    "A02010301": ("防火墙", "firewall"),
    "A02010502": ("磁盘阵列", "存储", "storage"),
    "A02010507": ("nas", "网络存储"),
    "A02010508": ("u盘", "移动硬盘", "优盘"),
    "A02010601": ("机柜", "服务器机柜"),
    "A02020100": ("复印机", "copier", "数码复合机"),
    "A02020200": ("投影仪", "投影机", "projector"),
    "A02020400": ("一体机", "多功能一体机", "打印复印扫描", "mfp", "复合机"),
    "A02020700": ("电子白板", "交互白板"),
    "A02020800": ("触控一体机", "会议平板", "智能平板"),
    "A02021000": ("打印机", "printer"),
    "A02021104": ("显示器", "液晶显示器", "monitor", "屏幕"),
    "A02021109": ("键盘", "keyboard"),
    "A02021110": ("鼠标", "mouse"),
    "A02021118": ("扫描仪", "scanner", "高拍仪"),
    "A02021301": ("碎纸机", "shredder"),
    "A02021401": ("计算器", "calculator"),
    "A02061804": ("空调", "空调机", "挂机", "柜机", "变频空调"),
    "A02052305": ("中央空调", "多联机", "空调机组"),
    "A02080800": ("视频会议", "会议系统"),
    "A02091102": ("摄像机", "camera"),
    "A05010201": ("办公桌", "写字台", "电脑桌", "职员桌", "班台"),
    "A05010202": ("会议桌", "洽谈桌"),
    "A05010301": ("办公椅", "电脑椅", "转椅", "职员椅", "班椅"),
    "A05010303": ("会议椅", "培训椅"),
    "A05010400": ("沙发",),
    "A05010502": ("文件柜", "铁皮柜", "资料柜"),
    "A05010504": ("保密柜", "保险柜", "保险箱"),
    "A05040101": ("复印纸", "a4纸", "打印纸", "a3纸", "白纸"),
    "A05040200": ("硒鼓", "粉盒", "墨粉", "碳粉", "toner", "耗材"),
    "A05040203": ("墨盒", "喷墨盒"),
    "A05040300": ("墨水",),
    "A08060301": ("操作系统", "数据库", "中间件", "基础软件"),
    "A08060303": ("办公软件",),
    "C16040000": ("云服务", "云计算", "云主机", "cloud"),
    "C23120301": ("车辆维修", "汽车保养", "修车"),
    "A07031201": ("蔬菜", "青菜"),
    "A07060102": ("大米", "米", "面粉", "粮食"),
    "A07060105": ("食用油", "菜籽油", "花生油"),
    "A07060303": ("茶叶", "茶", "绿茶", "红茶", "白茶"),
}

# Query words that mean the same thing and are not 品目 names (applied to the query, both engines).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "电脑": ("计算机",),
    "计算机": ("电脑",),
    "手提": ("笔记本",),
    "墨粉盒": ("硒鼓",),
    "a4": ("a4纸",),
}

# Extra words for the segmenter: model series and spec words that jieba would cut apart.
EXTRA_WORDS = (
    "笔记本电脑", "台式电脑", "一体机", "多功能一体机", "激光打印机", "喷墨打印机", "针式打印机",
    "复印纸", "硒鼓", "墨粉盒", "碎纸机", "扫描仪", "投影仪", "交换机", "路由器", "防火墙",
    "服务器", "显示器", "办公椅", "办公桌", "文件柜", "保密柜", "空调", "变频", "定频",
    "中小企业", "固态硬盘", "机械硬盘", "国产化", "信创", "兆芯", "飞腾", "鲲鹏", "龙芯", "海光",
    "统信", "麒麟", "银河麒麟",
)

STOPWORDS = frozenset("的 了 和 与 及 或 等 之 在 是 有 为 对 把 被 我 要 买 求 请 一个 一台 一些 什么 哪些".split())


@lru_cache(maxsize=100_000)
def brand_aliases(brand: str | None) -> tuple[str, ...]:
    if not brand:
        return ()
    if brand in BRAND_ALIASES:
        return BRAND_ALIASES[brand]
    low = brand.lower()
    for zh, latin in BRAND_ALIASES.items():
        if low in latin:
            return (zh,) + latin
    return ()


def category_aliases(path_codes: list[str]) -> tuple[str, ...]:
    """Aliases of a 品目 and of its ancestors (the leaf's first)."""
    out: list[str] = []
    for code in reversed(path_codes):
        out.extend(CATEGORY_ALIASES.get(code, ()))
    return tuple(out)
