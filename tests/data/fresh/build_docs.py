#!/usr/bin/env python3
"""Build the fresh-documents set for issue 15 (test material written before the code).

All documents are fictional sample documents of 示例市商务局 (示例市, 0000- phone numbers,
example.gov.cn).  They imitate how a real agency publishes notices, interpretations, annual
reports and lists.  Run with a virtualenv that has python-docx, reportlab and pypdf:

    python3 -m venv "$VENV"   # any scratch folder outside the checkout
    "$VENV"/bin/pip install python-docx reportlab pypdf beautifulsoup4 pyyaml
    "$VENV"/bin/python tests/data/fresh/build_docs.py

Output: docs/ beside this script (8 files: 2 DOCX, 2 PDF, 2 HTML, 1 TXT, 1 Markdown).
"""
from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "docs"

AGENCY = "示例市商务局"


# ---------------------------------------------------------------------------
# 1. DOCX 申报通知: 2026年度外贸发展专项资金
# ---------------------------------------------------------------------------
def build_subsidy_notice_docx(path: Path) -> None:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "仿宋"
    normal.font.size = Pt(14)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "仿宋_GB2312")

    def para(text, align=None, bold=False, size=None, color=None, indent=True):
        p = doc.add_paragraph()
        if indent and align is None:
            p.paragraph_format.first_line_indent = Pt(28)
        if align is not None:
            p.alignment = align
        r = p.add_run(text)
        r.bold = bold
        if size:
            r.font.size = Pt(size)
        if color:
            r.font.color.rgb = color
        return p

    # 红头
    para("示例市商务局文件", align=WD_ALIGN_PARAGRAPH.CENTER, bold=True, size=26,
         color=RGBColor(0xC0, 0x00, 0x00))
    para("示商务发〔2026〕8号", align=WD_ALIGN_PARAGRAPH.CENTER)
    doc.add_heading("示例市商务局 示例市财政局关于组织申报2026年度示例市外贸发展专项资金项目的通知", level=0)
    para("各县（市、区）商务主管部门、财政局，各有关企业：", indent=False)
    para("为贯彻落实国家和省关于推动外贸稳规模优结构的决策部署，支持企业开拓国际市场、培育外贸新业态新模式，"
         "根据《示例市外贸发展专项资金管理办法》（示商务规〔2024〕2号），现就组织申报2026年度示例市外贸发展"
         "专项资金项目有关事项通知如下：")

    doc.add_heading("一、支持对象和申报条件", level=1)
    para("申报企业应当同时符合以下条件：")
    for t in [
        "（一）在示例市行政区域内依法登记注册，具有独立法人资格；",
        "（二）2025年度有进出口实绩，并已在海关办理进出口货物收发货人备案；",
        "（三）近三年内无严重违法失信行为，未被列入严重失信主体名单；",
        "（四）财务管理制度健全，按规定报送商务运行统计数据；",
        "（五）同一项目已获得市级其他财政专项资金支持的，不得重复申报。",
    ]:
        para(t)

    doc.add_heading("二、支持内容和标准", level=1)
    para("2026年度专项资金重点支持以下五类项目，支持标准如下表：")
    rows = [
        ("序号", "支持项目", "支持内容", "支持标准", "补助上限"),
        ("1", "境外展会", "参加市商务局公布的2026年度重点境外展会目录内的展会", "按展位费的70%给予补助", "每个展会最高5万元"),
        ("2", "出口信用保险", "企业投保短期出口信用保险", "按实缴保费的50%给予补助", "每家企业最高30万元"),
        ("3", "境外商标注册和国际认证", "境外商标注册、产品国际认证（CE、UL、FDA等）费用", "按实际发生费用的50%给予补助", "每家企业最高10万元"),
        ("4", "海外仓建设", "跨境电商企业自建或租赁海外仓，面积不低于1000平方米", "按当年设施投入的30%给予补助", "每个海外仓最高80万元"),
        ("5", "外贸综合服务", "为本市中小微企业提供通关、退税、物流等服务的外贸综合服务企业", "按服务企业数量每家给予2000元奖励", "每家企业最高20万元"),
    ]
    table = doc.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, row in enumerate(rows):
        for j, val in enumerate(row):
            cell = table.cell(i, j)
            cell.text = val
            if i == 0:
                for r in cell.paragraphs[0].runs:
                    r.bold = True
    para("同一企业本年度获得的专项资金支持总额原则上不超过100万元。对2025年度首次实现进出口实绩的企业"
         "（“破零”企业），在上述标准基础上再给予一次性奖励1万元。")

    doc.add_heading("三、申报材料", level=1)
    para("申报企业应提交以下材料，纸质材料一式两份，A4纸双面打印、按顺序装订成册并加盖企业公章：")
    for t in [
        "1.《2026年度示例市外贸发展专项资金项目申报表》（附件1）；",
        "2.企业营业执照复印件；",
        "3.项目费用支付凭证（发票、银行付款回单等）复印件；",
        "4.项目证明材料：参加境外展会的提供展位确认函和现场参展照片；出口信用保险的提供保险单和保费发票；"
        "海外仓项目提供租赁合同或产权证明及运营情况说明；",
        "5.企业信用承诺书（附件2）；",
        "6.申报材料真实性承诺书（附件3）。",
    ]:
        para(t)

    doc.add_heading("四、申报时间和方式", level=1)
    para("（一）申报时间。2026年3月10日至2026年4月30日，逾期不予受理。")
    para("（二）申报方式。实行网上申报与纸质材料报送相结合。企业登录示例市商务专项资金管理系统"
         "（https://zxzj.example.gov.cn）在线填报并上传材料，网上申报完成后，于2026年5月8日前将纸质材料"
         "报送至注册地县（市、区）商务主管部门。")
    para("（三）初审报送。各县（市、区）商务主管部门会同同级财政部门对企业申报材料进行初审，"
         "于2026年5月20日前将初审意见和项目汇总表报送市商务局对外贸易科。")

    doc.add_heading("五、审核和资金拨付", level=1)
    para("市商务局会同市财政局委托第三方机构对申报项目进行审核，审核结果在示例市商务局网站公示5个工作日。"
         "公示无异议的，由市财政局按规定拨付资金。专项资金采取事后补助方式，原则上于2026年9月底前拨付到企业。")

    doc.add_heading("六、有关要求", level=1)
    para("（一）企业对申报材料的真实性负责。对弄虚作假、骗取专项资金的，追回已拨付资金，5年内取消申报资格，"
         "并按规定纳入信用记录。")
    para("（二）专项资金申报、审核、拨付全过程不收取任何费用，企业无需委托中介机构代理申报。")
    para("（三）各县（市、区）商务主管部门要加强政策宣传，做好申报辅导和初审把关工作。")

    doc.add_heading("七、联系方式", level=1)
    para("市商务局对外贸易科：王先生，电话0000-12345621")
    para("市财政局经济建设科：李女士，电话0000-12345702")
    para("专项资金管理系统技术支持：0000-12345699")

    para("附件：1.2026年度示例市外贸发展专项资金项目申报表", indent=False)
    para("2.企业信用承诺书", indent=False)
    para("3.申报材料真实性承诺书", indent=False)
    para("")
    para("示例市商务局　　　　示例市财政局", align=WD_ALIGN_PARAGRAPH.RIGHT)
    para("2026年3月2日", align=WD_ALIGN_PARAGRAPH.RIGHT)
    para("（此件主动公开）", indent=True)

    core = doc.core_properties
    core.title = "关于组织申报2026年度示例市外贸发展专项资金项目的通知"
    core.author = "示例市商务局对外贸易科"
    doc.save(str(path))


# ---------------------------------------------------------------------------
# 2. DOCX 抽查事项清单 (second DOCX with a table)
# ---------------------------------------------------------------------------
def build_inspection_list_docx(path: Path) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt

    doc = Document()
    doc.styles["Normal"].font.size = Pt(12)
    sec = doc.sections[0]  # 横版（A4 landscape），便于排七列的清单表
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)

    def para(text, align=None):
        p = doc.add_paragraph(text)
        if align is not None:
            p.alignment = align
        return p

    para("示商务发〔2026〕15号", align=WD_ALIGN_PARAGRAPH.CENTER)
    doc.add_heading("示例市商务局关于公布2026年度“双随机、一公开”抽查事项清单和抽查工作计划的通知", level=0)
    para("各县（市、区）商务主管部门，局机关各科室：")
    para("为深入推进“放管服”改革，规范事中事后监管，根据《国务院关于在市场监管领域全面推行部门联合“双随机、一公开”"
         "监管的意见》和示例市有关工作要求，我局编制了2026年度“双随机、一公开”抽查事项清单和抽查工作计划，"
         "现予公布，并就有关事项通知如下。")

    doc.add_heading("一、抽查方式", level=1)
    para("抽查通过示例市“双随机、一公开”监管工作平台，从检查对象名录库中随机抽取检查对象，"
         "从执法检查人员名录库中随机选派执法检查人员，每个检查组不少于2名执法人员。"
         "抽查以书面检查和实地核查相结合的方式进行，检查前不事先通知被检查企业。")

    doc.add_heading("二、抽查事项清单和工作计划", level=1)
    rows = [
        ("序号", "抽查事项", "抽查对象", "抽查内容", "抽查比例", "抽查时间", "实施科室"),
        ("1", "单用途商业预付卡发卡企业监督检查", "在本市备案的单用途商业预付卡发卡企业",
         "备案情况、预收资金存管比例、单张卡限额", "5%", "2026年5月至6月", "市场秩序科"),
        ("2", "成品油零售经营企业监督检查", "持有成品油零售经营批准证书的加油站",
         "经营资格、油品进货来源、台账记录", "3%", "2026年7月至8月", "市场运行和消费促进科"),
        ("3", "拍卖企业监督检查", "在本市设立的拍卖企业及分公司",
         "拍卖经营批准证书、拍卖笔录和档案管理", "10%", "2026年9月", "市场秩序科"),
        ("4", "报废机动车回收拆解企业监督检查", "取得资质认定的报废机动车回收拆解企业",
         "回收拆解场地、“五大总成”处置、回收证明出具", "20%", "2026年10月", "市场秩序科"),
        ("5", "再生资源回收经营者备案情况检查", "已备案的再生资源回收经营者",
         "备案信息真实性、收购登记制度执行情况", "4%", "2026年6月", "流通业发展科"),
        ("6", "商业特许经营备案情况检查", "已备案的特许人",
         "备案信息变更报告、信息披露情况", "2%", "2026年11月", "服务贸易和商贸服务业科"),
        ("7", "消费品以旧换新参与企业补贴资金使用检查", "参与2026年消费品以旧换新活动的销售企业",
         "销售真实性、补贴资金申领和使用情况", "8%", "2026年8月至11月", "市场运行和消费促进科"),
    ]
    table = doc.add_table(rows=len(rows), cols=len(rows[0]))
    table.style = "Table Grid"
    for i, row in enumerate(rows):
        for j, val in enumerate(row):
            table.cell(i, j).text = val

    doc.add_heading("三、结果公示和运用", level=1)
    para("抽查结果在抽查完成之日起20个工作日内，通过国家企业信用信息公示系统（示例市）和示例市商务局网站向社会公示。"
         "对抽查中发现的违法违规行为依法处理；对抽查中未发现问题的企业，原则上当年不再重复检查。")

    doc.add_heading("四、工作要求", level=1)
    para("（一）各实施科室要按计划组织实施，确保年度抽查任务按时完成，抽查计划完成率达到100%。")
    para("（二）执法检查人员与检查对象有利害关系的，应当依法回避。")
    para("（三）联系人：市商务局市场秩序科 赵女士，电话0000-12345651。")

    para("附件：示例市商务局2026年度“双随机、一公开”抽查事项清单")
    para("")
    para("示例市商务局", align=WD_ALIGN_PARAGRAPH.RIGHT)
    para("2026年4月8日", align=WD_ALIGN_PARAGRAPH.RIGHT)
    para("（此件主动公开）")
    doc.core_properties.title = "2026年度“双随机、一公开”抽查事项清单"
    doc.core_properties.author = "示例市商务局市场秩序科"
    doc.save(str(path))


# ---------------------------------------------------------------------------
# PDF helpers (reportlab, CID font STSong-Light; no font file needed)
# ---------------------------------------------------------------------------
def _pdf_styles():
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    try:
        pdfmetrics.getFont("STSong-Light")
    except KeyError:
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    base = dict(fontName="STSong-Light", wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", fontSize=17, leading=26, alignment=TA_CENTER, spaceAfter=10, **base),
        "meta": ParagraphStyle("meta", fontSize=10, leading=15, alignment=TA_CENTER, spaceAfter=8, **base),
        "h1": ParagraphStyle("h1", fontSize=13, leading=20, spaceBefore=8, spaceAfter=4, **base),
        "body": ParagraphStyle("body", fontSize=11, leading=18, firstLineIndent=22, **base),
        "cell": ParagraphStyle("cell", fontSize=9.5, leading=13, **base),
        "right": ParagraphStyle("right", fontSize=11, leading=18, alignment=TA_RIGHT, **base),
    }


def _pdf_table(rows, widths, st):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data = [[Paragraph(c, st["cell"]) for c in r] for r in rows]
    t = Table(data, colWidths=widths, repeatRows=1)
    t.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8E8E8")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    return t


# ---------------------------------------------------------------------------
# 3. PDF 政策解读: 消费品以旧换新补贴实施细则
# ---------------------------------------------------------------------------
def build_trade_in_interpretation_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    st = _pdf_styles()
    P = lambda t, s="body": Paragraph(t, st[s])  # noqa: E731
    story = [
        P("《示例市2026年消费品以旧换新补贴实施细则》政策解读", "title"),
        P("发布机构：示例市商务局　　发布日期：2026年1月20日　　解读文件：示商务规〔2026〕1号", "meta"),
        P("近日，示例市商务局会同示例市财政局等部门印发了《示例市2026年消费品以旧换新补贴实施细则》"
          "（示商务规〔2026〕1号，以下简称《实施细则》）。为便于社会公众和经营主体准确理解政策，现就有关内容解读如下。"),
        P("一、《实施细则》出台的背景是什么？", "h1"),
        P("为落实国家关于加力扩围实施大规模设备更新和消费品以旧换新的部署，延续并优化2025年我市以旧换新政策，"
          "进一步释放汽车、家电和数码产品消费潜力，市商务局会同有关部门在总结上年工作基础上制定了《实施细则》。"
          "2025年全市以旧换新活动共带动相关商品销售额46.8亿元。"),
        P("二、补贴对象有哪些？", "h1"),
        P("在示例市行政区域内购买活动范围内新品的个人消费者均可申请，须持本人有效居民身份证件。"
          "企业、机关事业单位等单位购买的不在补贴范围内。汽车报废更新补贴的对象为将本人名下登记的"
          "符合条件的旧车交售报废、并购买新车的个人消费者。"),
        P("三、补贴范围和标准是怎样的？", "h1"),
        P("《实施细则》明确的补贴范围和标准如下表："),
        _pdf_table([
            ("补贴类别", "补贴范围", "补贴标准", "补贴上限"),
            ("汽车报废更新", "报废旧车并购买新能源乘用车", "定额补贴", "每辆2万元"),
            ("汽车报废更新", "报废旧车并购买燃油乘用车（排量2.0升及以下）", "定额补贴", "每辆1.5万元"),
            ("汽车置换更新", "转让本人名下旧车并购买新车", "新车售价15万元（含）以上补贴8000元，以下补贴5000元", "每辆8000元"),
            ("家电产品", "冰箱、洗衣机、电视、空调、电脑等12类家电，一级能效（水效）", "按成交价的20%补贴", "每件最高2000元"),
            ("家电产品", "上述12类家电，二级能效（水效）", "按成交价的15%补贴", "每件最高1500元"),
            ("数码产品", "手机、平板、智能手表（手环），单件售价不超过6000元", "按成交价的15%补贴", "每件最高500元"),
        ], [26 * mm, 66 * mm, 48 * mm, 30 * mm], st),
        Spacer(1, 6),
        P("四、每人可以享受几次补贴？", "h1"),
        P("每位消费者每类家电产品限补1件，其中空调限补3件；数码产品每类限补1件；汽车报废更新和置换更新"
          "每人限补1辆，两者不可叠加享受。"),
        P("五、如何申领补贴？", "h1"),
        P("家电和数码产品实行“立减”方式：消费者通过“云闪付”APP“示例市以旧换新”专区领取补贴资格，"
          "在参与活动的门店或电商平台购买时直接抵扣。汽车报废更新和置换更新实行“先购后补”方式："
          "消费者在新车开具发票后登录“汽车以旧换新”平台提交申请，审核通过后，补贴资金在30个工作日内"
          "拨付至申请人本人名下的一类银行卡。"),
        P("六、申请汽车报废更新补贴需要哪些材料？", "h1"),
        P("需提交：申请人身份证件；《报废机动车回收证明》；旧车《机动车登记证书》；新车购车发票；"
          "新车《机动车行驶证》；申请人本人一类银行卡信息。以上材料在平台上传电子版即可，无需到窗口报送纸质材料。"),
        P("七、活动时间是怎样安排的？", "h1"),
        P("活动时间为2026年1月20日至2026年12月31日。汽车补贴申请须在2027年1月10日前提交。"
          "补贴资金实行总量控制，用完即止，资金使用进度在示例市商务局网站定期公布。"),
        P("八、商家如何参与？", "h1"),
        P("在示例市依法登记、近一年无严重违法失信记录的家电、数码产品销售企业和汽车销售企业，"
          "可向所在县（市、区）商务主管部门报名，经审核后纳入参与企业名单并向社会公布。"
          "参与企业不得先涨价后打折，不得虚假交易套取补贴。"),
        P("九、有问题找谁咨询？", "h1"),
        P("以旧换新政策咨询热线：0000-12345633（工作日9:00—17:00）；监督举报电话：0000-12345。"),
        Spacer(1, 12),
        P("示例市商务局", "right"),
        P("2026年1月20日", "right"),
    ]
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=20 * mm, bottomMargin=20 * mm,
                            title="《示例市2026年消费品以旧换新补贴实施细则》政策解读", author=AGENCY)
    doc.build(story)


# ---------------------------------------------------------------------------
# 4. PDF 公示: 电子商务发展专项资金拟支持项目
# ---------------------------------------------------------------------------
ECOM_PROJECTS = [
    ("示例市云帆电子商务有限公司", "县域直播电商公共服务中心建设", "电商公共服务", "85.6"),
    ("示例市丰谷农产品供应链有限公司", "农产品上行冷链仓配一体化项目", "农村电商", "62.0"),
    ("示例市青禾网络科技有限公司", "跨境电商独立站品牌出海项目", "跨境电商", "48.5"),
    ("示例市启明数字商贸有限公司", "本地生活即时零售平台升级", "电商平台", "40.0"),
    ("示例市海川跨境物流有限公司", "跨境电商海外仓信息系统建设", "跨境电商", "37.2"),
    ("示例市南山茶业有限公司", "茶叶产业带直播基地建设", "直播电商", "30.0"),
    ("示例市百纳家居有限公司", "家居产品电商运营中心建设", "电商平台", "26.8"),
    ("示例市星河文化传媒有限公司", "电商直播人才实训基地", "电商人才培训", "22.5"),
    ("示例市绿源果蔬专业合作社", "生鲜果蔬网货化改造", "农村电商", "18.0"),
    ("示例市智联软件有限公司", "中小商户数字化转型服务平台", "电商公共服务", "15.4"),
    ("示例市瑞丰食品有限公司", "地方特色食品网络品牌培育", "直播电商", "12.0"),
    ("示例市锦程物流有限公司", "农村电商三级物流共同配送", "农村电商", "10.0"),
]


def build_ecommerce_fund_list_pdf(path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    st = _pdf_styles()
    P = lambda t, s="body": Paragraph(t, st[s])  # noqa: E731
    total = sum(float(p[3]) for p in ECOM_PROJECTS)
    rows = [("序号", "项目单位", "项目名称", "项目类别", "拟支持金额（万元）")]
    for i, (unit, name, cat, amt) in enumerate(ECOM_PROJECTS, 1):
        rows.append((str(i), unit, name, cat, amt))
    rows.append(("", "合计", "", "", f"{total:.1f}"))
    story = [
        P("关于2026年度示例市电子商务发展专项资金拟支持项目的公示", "title"),
        P("发布机构：示例市商务局　　发布日期：2026年9月15日", "meta"),
        P("根据《示例市商务局 示例市财政局关于组织申报2026年度示例市电子商务发展专项资金项目的通知》"
          "（示商务发〔2026〕21号），经企业申报、县（市、区）初审、专家评审和局党组会议研究，"
          f"拟对示例市云帆电子商务有限公司等{len(ECOM_PROJECTS)}个项目给予支持，拟支持资金合计{total:.1f}万元。"
          "现将拟支持项目名单予以公示（见下表）。"),
        _pdf_table(rows, [12 * mm, 56 * mm, 54 * mm, 25 * mm, 33 * mm], st),
        Spacer(1, 6),
        P("一、公示时间", "h1"),
        P("2026年9月15日至2026年9月21日（5个工作日）。"),
        P("二、异议方式", "h1"),
        P("公示期内，任何单位和个人对公示项目有异议的，可以书面形式向示例市商务局电子商务和信息化科提出。"
          "个人提出异议的应署真实姓名并提供联系方式，单位提出异议的应加盖单位公章，并附必要的证明材料。"
          "匿名、逾期或无具体事实依据的异议不予受理。"),
        P("三、联系方式", "h1"),
        P("异议受理：示例市商务局电子商务和信息化科，电话0000-12345641，电子邮箱dianshang@example.gov.cn，"
          "地址：示例市人民路100号。监督电话：示例市商务局机关纪委0000-12345609。"),
        P("公示期满无异议的，按程序下达资金计划；有异议的，经核实后依规处理。"),
        Spacer(1, 12),
        P("示例市商务局", "right"),
        P("2026年9月15日", "right"),
    ]
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=20 * mm, bottomMargin=20 * mm,
                            title="关于2026年度示例市电子商务发展专项资金拟支持项目的公示", author=AGENCY)
    doc.build(story)


# ---------------------------------------------------------------------------
# HTML helpers: a government web page shell
# ---------------------------------------------------------------------------
def _html_page(title: str, meta_rows: list[tuple[str, str, str, str]], body_html: str,
               crumbs: list[str]) -> str:
    meta = "\n".join(
        f'        <tr><th>{a}：</th><td>{b}</td><th>{c}：</th><td>{d}</td></tr>' for a, b, c, d in meta_rows
    )
    crumb = " &gt; ".join(f'<a href="#">{c}</a>' for c in crumbs[:-1]) + f" &gt; <span>{crumbs[-1]}</span>"
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="SiteName" content="示例市商务局">
<meta name="ArticleTitle" content="{title}">
<title>{title}_示例市商务局</title>
<link rel="stylesheet" href="/static/css/xxgk.css">
<script>function setFont(s){{document.getElementById('zoom').style.fontSize=s+'px';}}</script>
</head>
<body>
<div class="top-bar">
  <span>欢迎访问示例市商务局网站</span>
  <a href="#">无障碍浏览</a> | <a href="#">长者模式</a> | <a href="#">English</a>
</div>
<div class="header"><h1 class="site-name">示例市商务局</h1><p>https://swj.example.gov.cn</p></div>
<ul class="nav">
  <li><a href="#">首页</a></li>
  <li><a href="#">机构概况</a></li>
  <li><a href="#">新闻动态</a></li>
  <li><a href="#">政务公开</a></li>
  <li><a href="#">政务服务</a></li>
  <li><a href="#">互动交流</a></li>
  <li><a href="#">专题专栏</a></li>
</ul>
<div class="position">当前位置：{crumb}</div>
<div class="xxgk-head">
  <table class="xxgk-meta">
{meta}
  </table>
</div>
<div class="article">
  <h2 class="article-title">{title}</h2>
  <div class="article-tools">【字体：<a href="javascript:setFont(18)">大</a> <a href="javascript:setFont(16)">中</a> <a href="javascript:setFont(14)">小</a>】 <a href="javascript:window.print()">打印本页</a></div>
  <div id="zoom" class="article-content">
{body_html}
  </div>
</div>
<div class="related"><h3>相关链接</h3>
  <ul><li><a href="#">中国政府网</a></li><li><a href="#">示例市人民政府</a></li><li><a href="#">示例市政务服务网</a></li></ul>
</div>
<div class="footer">
  <p><a href="#">网站地图</a> | <a href="#">联系我们</a> | <a href="#">隐私声明</a></p>
  <p>主办单位：示例市商务局　地址：示例市人民路100号　邮编：100000　联系电话：0000-12345678</p>
  <p>网站标识码：0000000001　示ICP备00000000号　示公网安备00000000000000号</p>
  <p>本网站为虚构示例，仅用于测试。</p>
</div>
</body>
</html>
"""


# ---------------------------------------------------------------------------
# 5. HTML 2025年政府信息公开工作年度报告
# ---------------------------------------------------------------------------
COLS = ["自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"]
Z = [0, 0, 0, 0, 0, 0]
APPLY_ROWS = {
    "new": [61, 19, 1, 0, 5, 1],
    "carry_in": [3, 1, 0, 0, 0, 0],
    "carry_out": [3, 1, 0, 0, 1, 0],
    "部分公开": [11, 4, 0, 0, 1, 0],
    "不予公开": [
        ("1.属于国家秘密", Z),
        ("2.其他法律行政法规禁止公开", Z),
        ("3.危及“三安全一稳定”", Z),
        ("4.保护第三方合法权益", [1, 1, 0, 0, 0, 0]),
        ("5.属于三类内部事务信息", [1, 0, 0, 0, 0, 0]),
        ("6.属于四类过程性信息", [1, 0, 0, 0, 0, 0]),
        ("7.属于行政执法案卷", Z),
        ("8.属于行政查询事项", [1, 0, 0, 0, 0, 0]),
    ],
    "无法提供": [
        ("1.本机关不掌握相关政府信息", [12, 4, 0, 0, 1, 0]),
        ("2.没有现成信息需要另行制作", [1, 0, 0, 0, 0, 0]),
        ("3.补正后申请内容仍不明确", [1, 0, 0, 0, 0, 0]),
    ],
    "不予处理": [
        ("1.信访举报投诉类申请", [4, 0, 0, 0, 0, 0]),
        ("2.重复申请", [2, 0, 0, 0, 0, 0]),
        ("3.要求提供公开出版物", [1, 0, 0, 0, 0, 0]),
        ("4.无正当理由大量反复申请", Z),
        ("5.要求行政机关确认或重新出具已获取信息", Z),
    ],
    "其他处理": [
        ("1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", [2, 0, 0, 0, 0, 0]),
        ("2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", Z),
        ("3.其他", [0, 1, 0, 0, 0, 0]),
    ],
}


def _vec_add(*vs):
    return [sum(x) for x in zip(*vs)]


def _with_total(v):
    return list(v) + [sum(v)]


def _apply_figures():
    R = APPLY_ROWS
    available = _vec_add(R["new"], R["carry_in"])
    handled = [a - b for a, b in zip(available, R["carry_out"])]
    others = _vec_add(R["部分公开"], *[v for _, v in R["不予公开"]], *[v for _, v in R["无法提供"]],
                      *[v for _, v in R["不予处理"]], *[v for _, v in R["其他处理"]])
    disclosed = [h - o for h, o in zip(handled, others)]
    assert all(x >= 0 for x in disclosed), disclosed
    return disclosed, handled


def _tds(v):
    return "".join(f"<td>{x}</td>" for x in _with_total(v))


def build_annual_report_html(path: Path) -> None:
    R = APPLY_ROWS
    disclosed, handled = _apply_figures()
    new_total = sum(R["new"])

    # 表三：收到和处理政府信息公开申请情况
    t3 = ['<table class="report-table" border="1" cellspacing="0" cellpadding="4">',
          '<tr><td colspan="3" rowspan="3">（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）</td>'
          '<td colspan="7">申请人情况</td></tr>',
          '<tr><td rowspan="2">自然人</td><td colspan="5">法人或其他组织</td><td rowspan="2">总计</td></tr>',
          "<tr>" + "".join(f"<td>{c}</td>" for c in COLS[1:]) + "</tr>",
          f'<tr><td colspan="3">一、本年新收政府信息公开申请数量</td>{_tds(R["new"])}</tr>',
          f'<tr><td colspan="3">二、上年结转政府信息公开申请数量</td>{_tds(R["carry_in"])}</tr>',
          f'<tr><td rowspan="22">三、本年度办理结果</td><td colspan="2">（一）予以公开</td>{_tds(disclosed)}</tr>',
          f'<tr><td colspan="2">（二）部分公开（区分处理的，只计这一情形，不计其他情形）</td>{_tds(R["部分公开"])}</tr>']
    for group, label in (("不予公开", "（三）不予公开"), ("无法提供", "（四）无法提供"),
                         ("不予处理", "（五）不予处理"), ("其他处理", "（六）其他处理")):
        items = R[group]
        for k, (sub, v) in enumerate(items):
            head = f'<td rowspan="{len(items)}">{label}</td>' if k == 0 else ""
            t3.append(f"<tr>{head}<td>{sub}</td>{_tds(v)}</tr>")
    t3.append(f'<tr><td colspan="2">（七）总计</td>{_tds(handled)}</tr>')
    t3.append(f'<tr><td colspan="3">四、结转下年度继续办理</td>{_tds(R["carry_out"])}</tr>')
    t3.append("</table>")
    table3 = "\n".join(t3)

    body = f"""
<p>本报告根据《中华人民共和国政府信息公开条例》（以下简称《条例》）和《国务院办公厅政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》（国办公开办函〔2021〕30号）要求编制。报告全文包括总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议行政诉讼情况、存在的主要问题及改进情况、其他需要报告的事项六部分。报告中所列数据统计期限为2025年1月1日至2025年12月31日。本报告电子版可在示例市商务局网站（https://swj.example.gov.cn）政府信息公开专栏下载。如对本报告有疑问，请与示例市商务局办公室联系（地址：示例市人民路100号；邮编：100000；电话：0000-12345678；电子邮箱：gongkai@example.gov.cn）。</p>
<h3>一、总体情况</h3>
<p>2025年，示例市商务局坚持以公开为常态、不公开为例外，围绕稳外贸、促消费、优环境等重点工作，扎实推进政务公开各项工作。</p>
<p>（一）主动公开。全年通过局门户网站主动公开政府信息1326条，其中政策文件38件，政策解读21篇（图解9篇、视频解读3个），以旧换新、外贸专项资金等重点领域信息412条。通过“示例商务”政务微信公众号发布信息865条。举办新闻发布会4场，开展“政府开放日”活动3次。</p>
<p>（二）依申请公开。全年新收政府信息公开申请{new_total}件，较上年增长18.2%，申请内容主要集中在专项资金分配、单用途预付卡企业备案和行政处罚信息等方面。所有申请均在法定期限内答复，平均办理时长为11.3个工作日。</p>
<p>（三）政府信息管理。对现行有效的行政规范性文件开展全面清理，废止2件；严格落实公开前保密审查制度，全年审查拟公开信息1326条，未发生失泄密事件。</p>
<p>（四）平台建设。完成局门户网站适老化和无障碍改造，政府信息公开专栏全年访问量达到27.4万人次。</p>
<p>（五）监督保障。将政务公开工作纳入科室年度绩效考核，组织全局政务公开业务培训2次，参训人员136人次。本年度未因政务公开工作受到责任追究。</p>
<h3>二、主动公开政府信息情况</h3>
<table class="report-table" border="1" cellspacing="0" cellpadding="4">
<tr><td colspan="4">第二十条第（一）项</td></tr>
<tr><td>信息内容</td><td>本年制发件数</td><td>本年废止件数</td><td>现行有效件数</td></tr>
<tr><td>规章</td><td>0</td><td>0</td><td>0</td></tr>
<tr><td>行政规范性文件</td><td>3</td><td>2</td><td>14</td></tr>
<tr><td colspan="4">第二十条第（五）项</td></tr>
<tr><td>信息内容</td><td colspan="3">本年处理决定数量</td></tr>
<tr><td>行政许可</td><td colspan="3">236</td></tr>
<tr><td colspan="4">第二十条第（六）项</td></tr>
<tr><td>信息内容</td><td colspan="3">本年处理决定数量</td></tr>
<tr><td>行政处罚</td><td colspan="3">41</td></tr>
<tr><td>行政强制</td><td colspan="3">0</td></tr>
<tr><td colspan="4">第二十条第（八）项</td></tr>
<tr><td>信息内容</td><td colspan="3">本年收费金额（单位：万元）</td></tr>
<tr><td>行政事业性收费</td><td colspan="3">0</td></tr>
</table>
<h3>三、收到和处理政府信息公开申请情况</h3>
{table3}
<h3>四、政府信息公开行政复议、行政诉讼情况</h3>
<table class="report-table" border="1" cellspacing="0" cellpadding="4">
<tr><td colspan="5">行政复议</td><td colspan="10">行政诉讼</td></tr>
<tr><td rowspan="2">结果维持</td><td rowspan="2">结果纠正</td><td rowspan="2">其他结果</td><td rowspan="2">尚未审结</td><td rowspan="2">总计</td><td colspan="5">未经复议直接起诉</td><td colspan="5">复议后起诉</td></tr>
<tr><td>结果维持</td><td>结果纠正</td><td>其他结果</td><td>尚未审结</td><td>总计</td><td>结果维持</td><td>结果纠正</td><td>其他结果</td><td>尚未审结</td><td>总计</td></tr>
<tr><td>2</td><td>1</td><td>0</td><td>1</td><td>4</td><td>1</td><td>0</td><td>0</td><td>0</td><td>1</td><td>1</td><td>0</td><td>0</td><td>1</td><td>2</td></tr>
</table>
<h3>五、存在的主要问题及改进情况</h3>
<p>2025年，我局政务公开工作取得一定成效，但仍存在一些不足：一是政策解读形式还不够丰富，图解、视频等解读占比偏低；二是依申请公开答复文书的规范性有待进一步提高，个别答复告知的救济途径表述不够完整；三是基层商务部门政务公开标准化规范化水平不平衡。</p>
<p>针对上述问题，我局将采取以下措施：一是推行政策文件与解读材料同步起草、同步审签、同步发布，丰富解读形式；二是制定依申请公开答复书格式文本，开展答复文书交叉评查；三是加强对县（市、区）商务主管部门的业务指导和培训。上年度报告中提出的“专项资金信息公开不够及时”问题，已通过建立专项资金信息公开台账、明确公开时限等措施完成整改。</p>
<h3>六、其他需要报告的事项</h3>
<p>（一）收取信息处理费情况。依据《政府信息公开信息处理费管理办法》，本年度未收取信息处理费。</p>
<table class="report-table" border="1" cellspacing="0" cellpadding="4">
<tr><td>项目</td><td>本年情况</td></tr>
<tr><td>发出收费通知的件数</td><td>0件</td></tr>
<tr><td>收取信息处理费</td><td>0元</td></tr>
</table>
<p>（二）人大代表建议和政协提案办理情况。2025年共承办市人大代表建议23件、市政协提案31件，均按期办结，办结率100%，相关复文摘要已在局网站公开。</p>
<p>（三）政务公开工作要点落实情况。《2025年示例市政务公开工作要点》涉及我局的9项任务已全部完成。</p>
<p style="text-align:right">示例市商务局<br>2026年1月23日</p>
"""
    title = "示例市商务局2025年政府信息公开工作年度报告"
    meta_rows = [
        ("索引号", "11000000MB0000000X/2026-00015", "主题分类", "政务公开/政府信息公开年报"),
        ("发布机构", "示例市商务局", "成文日期", "2026-01-23"),
        ("发文字号", "无", "发布日期", "2026-01-26"),
        ("名　　称", title, "有效性", "有效"),
    ]
    html = _html_page(title, meta_rows, body,
                      ["首页", "政务公开", "政府信息公开年报", "正文"])
    path.write_text(html, encoding="utf-8")


# ---------------------------------------------------------------------------
# 6. HTML 政策问答: 促进餐饮业高质量发展若干措施
# ---------------------------------------------------------------------------
def build_catering_qa_html(path: Path) -> None:
    qa = [
        ("问一：《若干措施》的适用对象是哪些？",
         "答：在示例市行政区域内依法登记注册、有固定经营场所、正常经营一年以上的餐饮企业和餐饮个体工商户，"
         "以及举办餐饮促消费活动的各县（市、区）人民政府和街道办事处。近三年内发生重大食品安全事故"
         "或被列入严重失信主体名单的，不予支持。"),
        ("问二：品牌连锁餐饮企业新开门店有什么奖励？",
         "答：对品牌连锁餐饮企业在本市年度内新开设直营门店达到5家（含）以上的，给予一次性奖励20万元；"
         "达到10家（含）以上的，给予一次性奖励40万元。同一企业同一年度只能享受一档奖励。"),
        ("问三：老字号餐饮企业能享受哪些支持？",
         "答：对新认定为“中华老字号”的餐饮企业，给予一次性奖励30万元；对新认定为“示例老字号”的餐饮企业，"
         "给予一次性奖励10万元。老字号餐饮企业进行传统技艺传承、门店修缮改造的，按实际投入的30%给予补助，"
         "最高不超过20万元。"),
        ("问四：举办美食节有没有补贴？",
         "答：对经市商务局备案、活动时间不少于3天的特色美食节、夜间餐饮消费季等活动，按主办单位实际投入的30%"
         "给予补助，每场最高15万元，每个县（市、区）每年最多支持2场。"),
        ("问五：美食节活动怎么备案？",
         "答：主办单位应在活动开始前15个工作日，向所在县（市、区）商务主管部门报送活动方案、安全保障方案和"
         "食品安全保障措施，由县（市、区）商务主管部门审核后报市商务局备案。"),
        ("问六：餐饮企业“明厨亮灶”和油烟净化改造有补助吗？",
         "答：有。对餐饮企业实施“明厨亮灶”、油烟净化设施改造的，按改造投入的40%给予补助，每家企业最高5万元。"),
        ("问七：什么时候申报？要准备哪些材料？",
         "答：每年分两批集中申报，上半年申报时间为6月1日至6月30日，下半年申报时间为11月1日至11月30日。"
         "申报时需提交：《示例市餐饮业发展资金申请表》、营业执照复印件、食品经营许可证复印件、"
         "项目投入发票及付款凭证、门店租赁合同（新开门店奖励适用）、信用承诺书。"),
        ("问八：奖补资金多久能到账？",
         "答：市商务局在申报截止后40个工作日内完成审核并公示，公示期满无异议的，由市财政局在15个工作日内拨付资金。"),
        ("问九：《若干措施》什么时候开始施行？有效期多长？",
         "答：《若干措施》自2026年5月1日起施行，有效期至2028年4月30日。"),
        ("问十：有疑问可以向哪个部门咨询？",
         "答：可以咨询示例市商务局市场运行和消费促进科，电话0000-12345631；"
         "也可以拨打示例市12345政务服务便民热线。"),
    ]
    parts = ["<p>为帮助广大餐饮经营主体更好地理解和享受政策，示例市商务局就《示例市促进餐饮业高质量发展若干措施》"
             "（示商务规〔2026〕3号，以下简称《若干措施》）中社会关注的问题整理了以下问答。</p>"]
    for q, a in qa:
        parts.append(f'<div class="qa-item"><p class="q"><strong>{q}</strong></p>\n<p class="a">{a}</p></div>')
    parts.append("""<p><strong>附表：《若干措施》主要奖补标准一览表</strong></p>
<table class="qa-table" border="1" cellspacing="0" cellpadding="4">
<thead><tr><th>支持事项</th><th>支持条件</th><th>支持标准</th><th>最高金额</th></tr></thead>
<tbody>
<tr><td>连锁门店拓展</td><td>年度新开直营门店5家（含）以上</td><td>一次性奖励</td><td>20万元</td></tr>
<tr><td>连锁门店拓展</td><td>年度新开直营门店10家（含）以上</td><td>一次性奖励</td><td>40万元</td></tr>
<tr><td>老字号认定</td><td>新认定为“中华老字号”</td><td>一次性奖励</td><td>30万元</td></tr>
<tr><td>老字号认定</td><td>新认定为“示例老字号”</td><td>一次性奖励</td><td>10万元</td></tr>
<tr><td>特色美食节</td><td>经备案、活动时间不少于3天</td><td>实际投入的30%</td><td>每场15万元</td></tr>
<tr><td>明厨亮灶和油烟净化改造</td><td>完成改造并验收</td><td>改造投入的40%</td><td>每家5万元</td></tr>
</tbody>
</table>
<p style="text-align:right">示例市商务局<br>2026年5月12日</p>""")
    title = "《示例市促进餐饮业高质量发展若干措施》政策问答"
    meta_rows = [
        ("索引号", "11000000MB0000000X/2026-00057", "主题分类", "商贸流通/政策解读"),
        ("发布机构", "示例市商务局", "成文日期", "2026-05-11"),
        ("文　　号", "", "发布日期", "2026-05-12"),
        ("名　　称", title, "有效性", "有效"),
    ]
    html = _html_page(title, meta_rows, "\n".join(parts), ["首页", "政务公开", "政策解读", "正文"])
    path.write_text(html, encoding="utf-8")


# ---------------------------------------------------------------------------
# 7. TXT 公告: 机关办公地址搬迁
# ---------------------------------------------------------------------------
OFFICE_MOVE_TXT = """示例市商务局关于机关办公地址搬迁的公告

示例市商务局公告2026年第3号

因工作需要，示例市商务局机关定于2026年7月18日起整体搬迁至新址办公。现将有关事项公告如下：

一、新办公地址
示例市滨河东路88号市政府综合办公楼B座9—11层，邮政编码：100011。

二、搬迁期间安排
2026年7月16日至7月17日为搬迁过渡期，机关暂停现场接待，来信来访和公文交换顺延办理。2026年7月20日（星期一）起在新址正常办公。

三、乘车路线
可乘坐公交12路、35路至“滨河东路口”站下车，向北步行约200米；或乘坐地铁2号线至“市民广场站”，从C出口出站后步行约500米。新址设有访客停车位，车辆请从综合办公楼东门进入。

四、政务服务窗口不搬迁
设在示例市政务服务中心二楼的商务窗口（示例市人民路100号）不随机关搬迁，单用途商业预付卡发卡企业备案、拍卖企业设立审批、成品油零售经营资格审批等政务服务事项仍在原窗口办理，办理时间不变。政府信息公开申请可继续通过网上申请平台提交。

五、联系电话调整
自2026年7月18日起，机关总值班电话调整为0000-12340000，办公室电话调整为0000-12340001，传真调整为0000-12340009。政府信息公开咨询电话0000-12345678保持不变。

六、信函邮寄
自2026年7月18日起，寄往我局的公文、信函和书面政府信息公开申请，请寄至新办公地址，信封上注明“示例市商务局办公室收”。过渡期内寄往原地址的邮件，我局将安排专人转递，原地址邮件转递服务截至2026年8月31日。

搬迁期间给您带来的不便，敬请谅解。

联系人：示例市商务局办公室 陈先生，电话0000-12340001

特此公告。

示例市商务局
2026年7月10日
"""


# ---------------------------------------------------------------------------
# 8. Markdown 工作要点
# ---------------------------------------------------------------------------
WORK_POINTS_MD = """# 示例市商务局2026年政务公开工作要点

| 索引号 | 11000000MB0000000X/2026-00042 | 发布机构 | 示例市商务局 |
| --- | --- | --- | --- |
| 发文字号 | 示商务办〔2026〕5号 | 成文日期 | 2026-03-16 |
| 主题分类 | 政务公开/工作计划 | 发布日期 | 2026-03-18 |

局机关各科室、各直属单位：

为深入贯彻《中华人民共和国政府信息公开条例》，落实《示例市2026年政务公开工作要点》（示政办发〔2026〕6号）部署，围绕稳外贸、促消费、优化营商环境等中心工作，以公开促落实、以公开优服务，结合我局实际，制定本要点。

## 一、围绕稳增长促消费加强政策公开

### （一）做好消费品以旧换新政策发布解读

及时公开以旧换新实施细则、参与企业名单和补贴标准，每月10日前在局网站公布上月补贴资金使用进度和带动销售情况。对群众反映集中的补贴申领问题，编制问答口径并在政务新媒体同步推送。（责任单位：市场运行和消费促进科）

### （二）推进专项资金信息全流程公开

外贸发展、电子商务、服务业发展等专项资金的申报指南在申报开始前公开，资金分配结果在确定后7个工作日内公开，全年专项资金分配结果公开率达到100%。（责任单位：财务审计科、各业务科室）

### （三）加强稳外贸政策服务

编制《2026年示例市稳外贸政策汇编》，于6月底前在局网站集中发布，并通过外贸企业服务群精准推送。（责任单位：对外贸易科）

## 二、提升政策解读和回应关切质量

### （一）落实解读“三同步”

坚持政策文件与解读材料同步起草、同步审签、同步发布，以局名义印发的规范性文件解读率达到100%，全年推出图解、视频等多元化解读不少于10篇。

### （二）开展“政府开放日”活动

围绕商贸流通、消费维权等主题，全年举办“政府开放日”活动不少于4次，邀请企业代表、市民代表走进商务部门。局主要负责同志全年参加“政风行风热线”节目不少于2次，现场解答群众诉求。

### （三）做好舆情回应

对涉及商务领域的重要舆情，原则上在24小时内作出回应，回应情况纳入月度工作通报。

## 三、规范政府信息公开申请办理

### （一）提升办理质效

严格执行政府信息公开申请登记、审核、办理、答复、归档全流程管理，依法在20个工作日内答复，力争平均办理时长压缩至10个工作日以内。

### （二）规范答复文书

5月底前制定依申请公开答复书格式文本，准确告知申请人行政复议和行政诉讼救济途径；严格执行《政府信息公开信息处理费管理办法》，规范收费通知行为。

### （三）推动依申请公开转主动公开

对申请较为集中的政府信息，经评估后转为主动公开，每季度梳理一次。

## 四、优化政务服务信息公开

### （一）更新办事指南

6月底前完成单用途商业预付卡发卡企业备案、成品油零售经营资格审批等政务服务事项办事指南的修订，办事指南要素准确率达到100%。

### （二）公开“双随机、一公开”结果

年度抽查事项清单和抽查计划于4月底前公布，抽查结果在抽查完成之日起20个工作日内公示。

## 五、加强公开平台建设

### （一）网站和政务新媒体

每季度开展一次网站和“示例商务”政务新媒体自查，确保无错敏信息、无空白栏目，留言办理平均回复时间不超过5个工作日。

### （二）政府信息公开专栏

9月底前完成政府信息公开专栏法定主动公开内容的全面梳理，做到应公开尽公开。

## 六、强化组织保障

### （一）压实工作责任

局办公室负责统筹协调，各科室主要负责人为本科室政务公开第一责任人。政务公开工作纳入科室年度绩效考核，分值占比不低于5%。

### （二）加强培训和年度报告

全年组织政务公开业务培训不少于2次；2027年1月31日前编制发布2026年度政府信息公开工作年度报告。

示例市商务局办公室

2026年3月16日
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    build_subsidy_notice_docx(OUT / "subsidy-notice-2026.docx")
    build_inspection_list_docx(OUT / "random-inspection-list-2026.docx")
    build_trade_in_interpretation_pdf(OUT / "trade-in-interpretation-2026.pdf")
    build_ecommerce_fund_list_pdf(OUT / "ecommerce-fund-publicity-2026.pdf")
    build_annual_report_html(OUT / "disclosure-annual-report-2025.html")
    build_catering_qa_html(OUT / "catering-policy-qa-2026.html")
    (OUT / "office-move-notice-2026.txt").write_text(OFFICE_MOVE_TXT, encoding="utf-8")
    (OUT / "disclosure-work-points-2026.md").write_text(WORK_POINTS_MD, encoding="utf-8")
    for p in sorted(OUT.iterdir()):
        print(f"{p.name:45s} {os.path.getsize(p):8d} bytes")


if __name__ == "__main__":
    main()
