"""A fast synthetic catalog for the search benchmark (used until/unless ``mall.demo.seed`` exists).

Realistic text: 45 品目 of the three zones with real brands, model series and specifications,
3,000 suppliers (76% SME, 2% suspended), products with Zipf-like sales, 95% listed.  Rows are
bulk-inserted with Core (no per-row ORM work, no audit), reproducibly from ``rng_seed``.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import func, insert, select

# code, zone, nouns, brands (brand → model series), spec generators, price range (yuan)
CPU = ["i3-1215U", "i5-1240P", "i5-1340P", "i7-1260P", "i7-13700H", "R5-7530U", "R7-7735H", "飞腾D2000", "兆芯KX-6640MA", "鲲鹏920"]
RAM = ["8G", "16G", "32G"]
SSD = ["256G固态", "512G固态", "1T固态", "512G SSD"]
SCREEN = ["14英寸", "15.6英寸", "13.3英寸", "16英寸"]
OS = ["Windows 11", "统信UOS", "银河麒麟", "Windows 10专业版"]

CATEGORIES = [
    ("A02010108", "central", ["笔记本电脑", "便携式计算机", "轻薄笔记本", "商务笔记本"], {
        "联想": ["ThinkPad E14", "ThinkPad T14", "ThinkBook 14", "昭阳K4e", "扬天V14"], "惠普": ["战66", "ProBook 440", "EliteBook 840"],
        "戴尔": ["Latitude 3440", "Vostro 3430", "成就3420"], "华为": ["MateBook D14", "MateBook 14", "擎云L420"],
        "华硕": ["无畏15", "破晓4"], "清华同方": ["超越E500", "超翔L860"]},
     [CPU, RAM, SSD, SCREEN, OS], (3500, 12000), 10),
    ("A02010105", "central", ["台式计算机", "台式电脑", "商用台式机", "办公台式机"], {
        "联想": ["启天M437", "启天M450", "扬天M4000", "开天M630Z"], "惠普": ["战99", "ProDesk 400 G9", "EliteDesk 800"],
        "戴尔": ["OptiPlex 3000", "成就3710", "Vostro 3910"], "华为": ["擎云B730E", "MateStation S"],
        "清华同方": ["超扬A8500", "超翔TZ830"], "长城": ["世恒DF710", "擎天DT23"]},
     [CPU, RAM, SSD + ["1T机械硬盘"], ["23.8英寸显示器", "21.5英寸显示器", "不含显示器"], OS], (3000, 9000), 10),
    ("A02010104", "central", ["服务器", "机架式服务器", "塔式服务器"], {
        "浪潮": ["NF5280M6", "NF5270M6", "NF8480M6"], "华为": ["FusionServer 2288H V6", "TaiShan 200"],
        "新华三": ["UniServer R4900 G5", "R4700 G5"], "戴尔": ["PowerEdge R750", "PowerEdge T350"], "联想": ["ThinkSystem SR650"],
        "曙光": ["I620-G30", "I840-G30"]},
     [["2颗至强银牌4314", "1颗至强银牌4310", "2颗海光7285"], ["64G内存", "128G内存", "256G内存"], ["4块2.4T SAS", "2块960G SSD"], ["2U", "4U", "塔式"]], (25000, 150000), 4),
    ("A02010109", "central", ["平板电脑", "平板式计算机"], {"华为": ["MatePad 11", "MatePad Pro"], "联想": ["小新Pad Pro", "启天K10"], "苹果": ["iPad 10", "iPad Air 5"], "小米": ["Pad 6"]},
     [["8G+128G", "8G+256G", "6G+128G"], ["11英寸", "12.6英寸", "10.9英寸"], ["WiFi版", "4G版"]], (1800, 6000), 3),
    ("A02021003", "central", ["黑白激光打印机", "激光打印机", "A4黑白打印机"], {
        "惠普": ["LaserJet Pro M404dn", "LaserJet M208dw", "LaserJet Pro 4004dn"], "兄弟": ["HL-5595DN", "HL-L2350DW"],
        "奔图": ["P3301DN", "P3022DW", "BP5100DN"], "联想": ["LJ2605D", "LJ2400 Pro", "GM265DN"], "佳能": ["LBP6230dn", "LBP325x"],
        "得力": ["P2500DNW", "P3100DN"]},
     [["A4", "A4幅面"], ["双面打印", "自动双面", "单面"], ["有线网络", "无线WiFi", "USB"], ["33页/分钟", "40页/分钟", "28页/分钟"]], (900, 4500), 8),
    ("A02021004", "central", ["彩色激光打印机", "彩色打印机", "A4彩色打印机"], {
        "惠普": ["Color LaserJet Pro M255dw", "Color LaserJet 4203dn"], "佳能": ["LBP664Cx", "LBP7110Cw"], "兄弟": ["HL-L3270CDW"],
        "奔图": ["CP2506DN Plus"], "柯尼卡美能达": ["bizhub C3300i"]},
     [["A4彩色", "A4"], ["双面打印", "单面"], ["有线网络", "无线WiFi"]], (1800, 9000), 4),
    ("A02021001", "central", ["A3黑白打印机", "A3激光打印机"], {"惠普": ["LaserJet M706n", "LaserJet M712dn"], "京瓷": ["ECOSYS P4140dn"], "奔图": ["P4000DN"]},
     [["A3幅面"], ["双面打印", "单面"], ["35页/分钟", "40页/分钟"]], (5000, 16000), 2),
    ("A02021006", "self", ["票据打印机", "针式打印机", "发票打印机"], {"爱普生": ["LQ-630KII", "LQ-735KII", "LQ-1900KIIH"], "得力": ["DE-620K"], "映美": ["FP-630K+"]},
     [["24针", "82列", "106列"], ["平推式", "卷筒式"]], (900, 3500), 3),
    ("A02020400", "central", ["多功能一体机", "打印复印扫描一体机", "激光一体机"], {
        "惠普": ["LaserJet Pro MFP M227fdw", "LaserJet MFP M437nda", "MFP 4104dw"], "兄弟": ["MFC-L2750DW", "DCP-L2550DW"],
        "佳能": ["iC MF643Cdw", "MF266dn"], "奔图": ["M6760DW", "M7160DW"], "联想": ["M7400 Pro", "M7628DNA"]},
     [["打印/复印/扫描", "打印/复印/扫描/传真"], ["A4", "A3"], ["自动双面", "有线网络", "无线WiFi"]], (1200, 30000), 7),
    ("A02020100", "central", ["复印机", "数码复合机", "A3复印机"], {
        "理光": ["MP 2555SP", "IM C2010", "IM 3500"], "京瓷": ["TASKalfa 2020", "TASKalfa 3554ci"], "柯尼卡美能达": ["bizhub 367", "bizhub C300i"],
        "夏普": ["BP-M3152R", "MX-C3082R"], "东芝": ["e-STUDIO 2829A"], "震旦": ["AD289s", "ADC307"]},
     [["A3幅面"], ["黑白", "彩色"], ["25页/分钟", "30页/分钟", "35页/分钟"], ["双面输稿器", "双纸盒", "含工作台"]], (9000, 45000), 5),
    ("A02020200", "central", ["投影仪", "投影机", "会议投影仪"], {"爱普生": ["CB-X50", "CB-FH52", "CB-2265U"], "明基": ["E580", "MW560"], "索尼": ["VPL-EX570"],
                                                          "松下": ["PT-X3871C"], "夏普": ["XG-ND450XA"]},
     [["3600流明", "4000流明", "5000流明"], ["1080P", "XGA", "WUXGA"], ["无线投屏", "HDMI"]], (2500, 15000), 4),
    ("A02021104", "self", ["液晶显示器", "显示器", "办公显示器"], {"戴尔": ["P2422H", "SE2422H", "U2723QE"], "联想": ["ThinkVision T24i", "L24e-40"],
                                                          "飞利浦": ["242E1", "275E2"], "明基": ["GW2480", "BL2490"], "华为": ["MateView SE"], "三星": ["S24C310"]},
     [["23.8英寸", "27英寸", "21.5英寸"], ["IPS", "VA"], ["1080P", "2K", "4K"], ["HDMI+VGA", "DP+HDMI"]], (600, 3500), 6),
    ("A02021118", "self", ["扫描仪", "高速扫描仪", "文档扫描仪", "高拍仪"], {"佳能": ["DR-C240", "DR-M260"], "爱普生": ["DS-530II", "DS-1630"], "富士胶片": ["fi-7160", "fi-8170"],
                                                                "汉王": ["HW-9100", "E1190Pro"], "紫光": ["Q300", "F2200"]},
     [["A4", "A3"], ["双面扫描", "单面"], ["40页/分钟", "60页/分钟"]], (1500, 12000), 3),
    ("A02010201", "central", ["路由器", "企业级路由器", "千兆路由器"], {"华为": ["AR6120", "AR1220C"], "新华三": ["MSR3610", "ER3200G3"], "锐捷": ["RG-EG3230", "RG-EG2100"],
                                                               "TP-LINK": ["TL-ER6120G", "TL-R473G"]},
     [["千兆", "万兆"], ["8口", "4口", "多WAN口"], ["VPN", "上网行为管理"]], (300, 12000), 3),
    ("A02010202", "central", ["交换机", "以太网交换机", "核心交换机", "接入交换机"], {"华为": ["S5735-L24T4X", "S5731-H48T4XC", "S1730S-L24T"],
                                                                          "新华三": ["S5130S-28S-EI", "S6520X-30QC"], "锐捷": ["RG-S5750C-28GT4XS", "RG-S2910-24GT4XS"],
                                                                          "TP-LINK": ["TL-SG2226PE", "TL-SH1005"], "思科": ["C9200L-24T-4G"]},
     [["24口", "48口", "8口"], ["千兆", "万兆上行"], ["三层", "二层", "PoE供电"]], (500, 40000), 5),
    ("A02010301", "central", ["防火墙", "下一代防火墙"], {"深信服": ["AF-1000-B1080", "AF-1000-FH1300B"], "华为": ["USG6510E", "USG6525F"], "天融信": ["NGFW4000-UF"],
                                                    "奇安信": ["NSG3000"], "新华三": ["F1000-AK125"]},
     [["1G吞吐", "5G吞吐", "10G吞吐"], ["含三年特征库", "含一年授权"]], (8000, 80000), 2),
    ("A02010507", "self", ["网络存储", "NAS存储"], {"群晖": ["DS920+", "DS1621+"], "威联通": ["TS-464C"], "华为": ["OceanStor 2200 V3"]},
     [["4盘位", "6盘位"], ["含4块4T硬盘", "无硬盘"]], (3000, 40000), 2),
    ("A02010508", "self", ["移动硬盘", "U盘", "固态移动硬盘"], {"西部数据": ["My Passport", "Elements"], "希捷": ["睿翼", "Expansion"], "闪迪": ["CZ73 酷铄", "E61"],
                                                              "金士顿": ["DTX", "DataTraveler Max"], "华为": ["HM-64"]},
     [["1T", "2T", "64G", "128G", "4T"], ["USB3.0", "USB3.2", "Type-C"], ["加密", "金属外壳"]], (40, 1200), 6),
    ("A02021109", "self", ["键盘", "键鼠套装", "无线键盘"], {"罗技": ["MK275", "K845", "MK540"], "雷柏": ["X1800S", "8000M"], "双飞燕": ["KK-5520N", "FG1010"], "戴尔": ["KM3322W"]},
     [["有线", "无线", "蓝牙"], ["USB接口", "防泼溅"]], (50, 500), 4),
    ("A02021110", "self", ["鼠标", "无线鼠标", "办公鼠标"], {"罗技": ["M185", "M330", "MX Master 3S"], "雷柏": ["M100", "M300"], "联想": ["M120Pro"], "惠普": ["FM710A"]},
     [["有线", "无线", "蓝牙"], ["静音", "人体工学"]], (30, 700), 4),
    ("A02061804", "central", ["空调", "空调机", "挂式空调", "柜式空调", "变频空调"], {
        "格力": ["云佳 KFR-35GW", "云锦 KFR-72LW", "天丽 KFR-26GW"], "美的": ["风酷 KFR-35GW", "锐云 KFR-72LW"], "海尔": ["劲爽 KFR-35GW", "雷神者 KFR-72LW"],
        "海信": ["KFR-35GW/E500"], "奥克斯": ["KFR-35GW/BpR3"], "大金": ["FTXR236WC"]},
     [["1.5匹", "1匹", "2匹", "3匹"], ["变频", "定频"], ["一级能效", "三级能效", "新一级能效"], ["冷暖", "单冷"]], (2200, 12000), 8),
    ("A02052305", "self", ["中央空调", "多联机空调", "空调机组"], {"格力": ["GMV-H180WL"], "美的": ["MDV-250W/D2SN1"], "大金": ["VRV-N RUXYQ10BA"], "海尔": ["RFC280MXSAVA"]},
     [["5匹", "8匹", "10匹"], ["变频多联", "一拖四", "一拖六"]], (20000, 120000), 2),
    ("A05010201", "self", ["办公桌", "职员桌", "电脑桌", "班台", "写字台"], {"震旦": ["AO-A-TD1408", "OA-B-2"], "圣奥": ["SA-DK1600", "SA-ZY1400"], "科誉": ["KY-BT1800"],
                                                                     "亚振": ["YZ-D1200"], "得力": ["DL-91502"], "冠美": ["GM-1407"]},
     [["1.4米", "1.6米", "1.8米", "1.2米"], ["钢木结构", "实木贴皮", "E1级板材", "三聚氰胺板"], ["带抽屉", "含活动柜", "单人位", "双人位"]], (500, 6000), 8),
    ("A05010301", "self", ["办公椅", "电脑椅", "职员椅", "人体工学椅", "会议椅"], {"震旦": ["AO-C-211", "OA-Ergo"], "圣奥": ["SA-YZ620", "SA-C503"], "西昊": ["M57", "M18"],
                                                                          "永艺": ["XY-1901"], "得力": ["DL-4911"], "科誉": ["KY-Y088"]},
     [["网布", "皮质", "布艺"], ["可升降", "固定扶手", "可调扶手"], ["带头枕", "弓形脚", "五星脚"]], (200, 3000), 8),
    ("A05010202", "self", ["会议桌", "洽谈桌", "长条会议桌"], {"震旦": ["AO-M-3612"], "圣奥": ["SA-HY2400", "SA-HY3600"], "科誉": ["KY-HY4000"]},
     [["2.4米", "3.6米", "4.8米"], ["实木贴皮", "钢木结构"], ["含线盒", "含桌面插座"]], (1500, 20000), 3),
    ("A05010502", "self", ["文件柜", "铁皮柜", "资料柜", "档案柜"], {"得力": ["DL-9900", "DL-33106"], "震旦": ["AO-G-185"], "圣奥": ["SA-WJG1850"], "虎王": ["HW-185"]},
     [["1.85米", "1.2米", "0.9米"], ["钢制", "冷轧钢板"], ["带锁", "上玻下铁", "通体双开门"]], (300, 2500), 5),
    ("A05010504", "self", ["保密柜", "保险柜", "保险箱"], {"得力": ["DL-4083", "DL-33113"], "虎王": ["FDX-A/D-60"], "永发": ["BGX-5/D1-80"], "迪堡": ["FDG-A1/D-100"]},
     [["电子密码", "指纹", "机械密码"], ["60cm高", "80cm高", "1米高"], ["国家保密局认证", "防火"]], (800, 9000), 3),
    ("A05010400", "self", ["沙发", "办公沙发", "接待沙发"], {"圣奥": ["SA-SF301"], "震旦": ["AO-S-3"], "亚振": ["YZ-S1"]},
     [["三人位", "单人位", "组合"], ["真皮", "布艺", "超纤皮"]], (1500, 12000), 3),
    ("A05040101", "self", ["复印纸", "A4复印纸", "打印纸", "A4纸"], {"得力": ["3904", "嘉宝莉", "莱茵河"], "齐心": ["C4776", "C5013"], "晨光": ["APYVPB01", "绿晨光"],
                                                                  "亚太森博": ["百旺", "红百旺"], "金光": ["金旗舰", "佳印"], "UPM": ["新豪杰"]},
     [["A4", "A3", "B5"], ["70g", "80g", "75g"], ["500张/包", "8包/箱", "5包/箱"], ["双面打印", "高白"]], (20, 300), 10),
    ("A05040202", "self", ["硒鼓", "墨粉盒", "粉盒", "碳粉盒"], {"惠普": ["CF217A", "CF226A", "W1500A", "CF289A"], "兄弟": ["TN-2425", "DR-2450"], "奔图": ["PD-213", "TO-405"],
                                                                   "佳能": ["CRG-057", "CRG-337"], "得力": ["DLH-CF217A"], "联想": ["LT2451", "LD2451"]},
     [["原装", "兼容", "大容量"], ["适用M102/M130打印机", "适用M404dn打印机", "适用HL-5595DN打印机", "适用P3301DN打印机", "适用LBP6230dn打印机"], ["约1600页", "约3000页", "约10000页"]], (80, 1200), 8),
    ("A05040203", "self", ["喷墨盒", "墨盒", "彩色墨盒"], {"惠普": ["680", "803XL", "915"], "佳能": ["PG-845", "CL-846"], "爱普生": ["T6641", "003墨水"]},
     [["黑色", "彩色", "四色套装"], ["原装", "兼容"], ["适用喷墨打印机"]], (60, 500), 4),
    ("A05040300", "self", ["墨水", "打印墨水", "签字笔墨水"], {"爱普生": ["T6641", "003"], "晨光": ["AICW8901"], "得力": ["S51"]},
     [["黑色", "蓝黑", "四色"], ["70ml", "100ml", "500ml"]], (10, 200), 2),
    ("A05040199", "self", ["笔记本", "记事本", "会议记录本"], {"得力": ["7656", "22226"], "晨光": ["APYEWA07", "MA62"], "齐心": ["C5902"], "广博": ["GB16032"]},
     [["A5", "B5", "A4"], ["80页", "100页", "200页"], ["皮面", "软抄", "线圈"]], (5, 80), 5),
    ("A02021301", "self", ["碎纸机", "办公碎纸机", "保密碎纸机"], {"得力": ["9911", "33061"], "科密": ["C-638", "C-2000"], "齐心": ["C5960"], "三木": ["SD9280"]},
     [["5级保密", "4级保密", "3级保密"], ["连续碎纸30分钟", "连续碎纸60分钟"], ["25L", "35L"]], (200, 3000), 3),
    ("A02021401", "self", ["计算器", "财务计算器"], {"得力": ["1654", "D120"], "卡西欧": ["GX-120B", "DM-1200"], "晨光": ["ADG98111"]},
     [["12位", "14位"], ["太阳能双电源", "语音"]], (15, 200), 2),
    ("A02020800", "central", ["触控一体机", "会议平板", "智能交互平板"], {"希沃": ["MC86FEA", "MC65FEC"], "华为": ["IdeaHub S2", "IdeaHub Pro"], "MAXHUB": ["V6 CA65", "V6 CA86"],
                                                                  "鸿合": ["HD-I6580"]},
     [["65英寸", "75英寸", "86英寸"], ["4K", "含无线传屏"], ["i5模块", "安卓+Windows双系统"]], (8000, 40000), 3),
    ("A02080800", "central", ["视频会议终端", "视频会议系统", "会议摄像头"], {"华为": ["Box 310", "TE20", "CloudLink Bar 500"], "宝利通": ["Studio X50", "RealPresence Group 310"],
                                                                    "小鱼易连": ["ME40", "AE600"], "中兴": ["ZXV10 XT502"]},
     [["1080P", "4K"], ["12倍光学变焦", "全向麦克风"], ["含MCU授权", "支持H.323/SIP"]], (3000, 60000), 2),
    ("A02091102", "self", ["摄像机", "网络摄像机", "监控摄像头"], {"海康威视": ["DS-2CD3T46", "DS-2DE4423"], "大华": ["DH-IPC-HFW2433", "DH-SD49425"], "宇视": ["IPC2124LB"],
                                                                   "华为": ["X2221-10-HLI"]},
     [["400万像素", "200万像素", "800万像素"], ["红外夜视", "POE供电", "球机", "枪机"]], (200, 6000), 4),
    ("A08060301", "central", ["操作系统", "国产操作系统", "数据库软件", "中间件"], {"统信": ["UOS桌面版V20", "UOS服务器版"], "麒麟": ["银河麒麟桌面版V10", "银河麒麟服务器版"],
                                                                         "达梦": ["DM8数据库"], "人大金仓": ["KingbaseES V8"], "东方通": ["TongWeb V7"]},
     [["单套授权", "1年服务", "3年服务"], ["专业版", "标准版", "企业版"]], (500, 50000), 3),
    ("A08060303", "self", ["办公软件", "办公套件"], {"金山": ["WPS Office 2019", "WPS专业版"], "永中": ["永中Office 2019"], "用友": ["U8 Cloud"], "金蝶": ["云星空"]},
     [["单套授权", "批量授权"], ["1年服务", "永久授权"]], (200, 30000), 2),
    ("C16040000", "self", ["云服务", "云主机", "云计算服务", "政务云"], {"华为": ["华为云ECS", "华为云政务云"], "浪潮": ["浪潮云主机"], "阿里": ["阿里云ECS"], "天翼": ["天翼云主机"]},
     [["4核8G", "8核16G", "16核32G"], ["100G云盘", "500G云盘"], ["包年", "按月"]], (1000, 60000), 2),
    ("C23120301", "self", ["车辆维修保养", "汽车保养", "车辆维修"], {"途虎": ["定点保养套餐"], "中升": ["4S店保养"], "本地汽修": ["一类维修厂"]},
     [["小保养", "大保养", "轮胎更换"], ["含机油机滤", "含工时"]], (200, 3000), 2),
    ("A07031201", "pavilion", ["蔬菜", "有机蔬菜", "高山蔬菜", "时令蔬菜"], {"东乡": ["东乡土豆", "东乡胡萝卜"], "宁德": ["古田白菜"], "定西": ["定西马铃薯"], "昭通": ["昭通青菜"]},
     [["5斤装", "10斤装", "整箱"], ["产地直发", "脱贫地区", "农户合作社"]], (20, 200), 4),
    ("A07060102", "pavilion", ["大米", "五常大米", "有机大米", "稻花香"], {"五常": ["稻花香2号"], "中粮": ["福临门东北大米"], "金龙鱼": ["乳玉皇妃"], "庆安": ["庆安大米"]},
     [["5kg", "10kg", "25kg"], ["一级", "有机认证", "当季新米"]], (40, 400), 4),
    ("A07060105", "pavilion", ["食用油", "菜籽油", "花生油", "压榨菜籽油"], {"金龙鱼": ["特香菜籽油"], "福临门": ["压榨一级花生油"], "鲁花": ["5S压榨花生油"], "陇南": ["陇南初榨菜籽油"]},
     [["5L", "4L", "1.8L"], ["压榨一级", "非转基因"]], (40, 300), 3),
    ("A07060303", "pavilion", ["茶叶", "绿茶", "红茶", "白茶"], {"安溪": ["铁观音"], "福鼎": ["白毫银针", "白牡丹"], "武夷": ["大红袍"], "恩施": ["玉露"]},
     [["250g", "500g", "礼盒装"], ["特级", "一级", "明前"]], (60, 1200), 3),
]

SUPPLIER_CITIES = ["福州", "厦门", "泉州", "莆田", "漳州", "南平", "三明", "龙岩", "宁德", "杭州", "南京", "合肥", "南昌", "广州", "深圳", "武汉"]
SUPPLIER_WORDS = ["信息技术", "科技", "办公设备", "电子", "贸易", "商贸", "家具", "网络", "数码", "智能", "实业", "农业发展", "供应链"]
SUPPLIER_NAMES = ["鑫源", "恒信", "华腾", "博远", "中诚", "联创", "金鹏", "瑞丰", "众合", "天成", "海峡", "闽都", "新锐", "宏达", "正和", "世纪",
                  "远航", "星辰", "嘉禾", "汇通", "东方", "长兴", "佳和", "百盛"]
ADJ = ["", "", "", "新款", "国产", "商用", "高性能", "经济型", "旗舰", "政企版"]


def _pick_weighted(rng, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


def generate(session, products: int = 100_000, suppliers: int = 3000, rng_seed: int = 2025, progress=None) -> dict:
    """Insert suppliers and ``products`` products (needs zones and 品目 loaded)."""
    from catalog.models import Agreement, AgreementPrice, Product
    from mall.accounts import uscc
    from mall.accounts.models import Organisation
    from suppliers.models import SupplierProfile

    say = progress or (lambda m: None)
    rng = random.Random(rng_seed)
    now = dt.datetime.now(dt.timezone.utc)
    start_id = (session.scalar(select(func.max(Organisation.id))) or 0) + 1
    orgs, profiles = [], []
    for i in range(suppliers):
        oid = start_id + i
        name = f"{rng.choice(SUPPLIER_CITIES)}{rng.choice(SUPPLIER_NAMES)}{rng.choice(SUPPLIER_WORDS)}有限公司"
        orgs.append({"id": oid, "kind": "supplier", "name": name, "uscc": uscc.make(f"91350100{oid:09d}"),
                     "created_at": now})
        sme = rng.random() < 0.76
        profiles.append({"organisation_id": oid, "status": "suspended" if rng.random() < 0.02 else "active",
                         "sme_size": rng.choice(["micro", "small", "small", "medium"]) if sme else "large",
                         "pavilion_status": "qualified" if rng.random() < 0.05 else "none", "created_at": now})
    session.execute(insert(Organisation.__table__), orgs)
    session.execute(insert(SupplierProfile.__table__), profiles)
    sme_of = {p["organisation_id"]: p["sme_size"] != "large" for p in profiles}
    supplier_ids = [o["id"] for o in orgs]
    # one framework agreement per centralized 品目 family, with prices for a few thousand products
    agreement = Agreement(number=f"BENCH-FA-{rng_seed}", title="基准测试框架协议（计算机、打印机、办公设备）", kind="closed",
                          subject="goods", zone_code="central", second_stage="direct", status="active",
                          term_start=dt.date.today() - dt.timedelta(days=30),
                          term_end=dt.date.today() + dt.timedelta(days=300))
    session.add(agreement)
    session.flush()
    weights = [c[6] for c in CATEGORIES]
    first_pid = (session.scalar(select(func.max(Product.id))) or 0) + 1
    rows = []
    prices = []
    done = 0
    for n in range(products):
        code, zone, nouns, brands, specs, (lo, hi), _w = _pick_weighted(rng, CATEGORIES, weights)
        brand = rng.choice(list(brands))
        series = rng.choice(brands[brand])
        spec_vals = [rng.choice(s) for s in specs]
        noun = rng.choice(nouns)
        extra = " ".join(spec_vals[:rng.randint(1, min(3, len(spec_vals)))])
        title = f"{brand} {series} {rng.choice(ADJ)}{noun} {extra}".replace("  ", " ")
        price = Decimal(str(round(rng.uniform(lo, hi) / (10 if hi > 1000 else 1)) * (10 if hi > 1000 else 1))) \
            - Decimal("0.01") * rng.choice([0, 0, 1, 10])
        sid = rng.choice(supplier_ids)
        roll = rng.random()
        status = "listed" if roll < 0.95 else ("draft" if roll < 0.975 else "delisted")
        sales = int(rng.paretovariate(1.2)) - 1 if rng.random() < 0.7 else 0
        pid = first_pid + n
        ap_id = None
        if zone == "central" and rng.random() < 0.05:
            prices.append({"agreement_id": agreement.id, "supplier_id": sid, "category_code": code, "brand": brand,
                           "model": f"{series}-{pid}", "max_price": price * Decimal("1.05")})
            ap_id = len(prices)  # replaced after insert
        rows.append({"id": pid, "supplier_id": sid, "zone_code": zone, "category_code": code, "title": title[:200],
                     "brand": brand, "model": series, "manufacturer": brand,
                     "specs": {f"参数{i + 1}": v for i, v in enumerate(spec_vals)},
                     "description": f"{title}。{'、'.join(spec_vals)}。原厂正品，全国联保，支持开具增值税专用发票。",
                     "unit": "台" if hi > 1000 else "件", "price": price, "market_price": (price * Decimal("1.08")).quantize(Decimal("0.01")),
                     "stock": rng.choice([0, 5, 20, 50, 100, 500]), "status": status, "halted_reason": None,
                     "is_sme": sme_of[sid], "sales_count": min(sales, 50000), "search_dirty": True,
                     "created_at": now - dt.timedelta(minutes=products - n), "updated_at": now,
                     "listed_at": now - dt.timedelta(minutes=products - n) if status == "listed" else None,
                     "_ap": ap_id})
        if len(rows) >= 10_000:
            _flush_products(session, rows, prices, agreement)
            done += len(rows)
            rows, prices = [], []
            say(f"{done:,} products")
    if rows:
        _flush_products(session, rows, prices, agreement)
        done += len(rows)
    session.commit()
    return {"suppliers": suppliers, "products": done}


def _flush_products(session, rows, prices, agreement):
    from catalog.models import AgreementPrice, Product

    by_model = {}
    if prices:
        result = session.execute(insert(AgreementPrice.__table__).returning(AgreementPrice.__table__.c.id, sort_by_parameter_order=True), prices)
        by_model = {(p["supplier_id"], p["model"]): r[0] for p, r in zip(prices, result)}
    for r in rows:
        r.pop("_ap")
        r["agreement_price_id"] = by_model.get((r["supplier_id"], f"{r['model']}-{r['id']}"))
    session.execute(insert(Product.__table__), rows)
    session.commit()
