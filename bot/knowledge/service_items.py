"""Exact answers about one service item: 「对外贸易经营者备案要什么材料」 → its materials field.

A question that names an item (by name, abbreviation or alias — found by the spaCy EntityRuler in
bot.knowledge.item_recognizer; near-complete names by character-bigram overlap) and asks for one field gets that
field from the catalogue record with the item's name and code, never a paraphrase. A follow-up
such as 「那要多久？」 reuses the item from the previous turn. An unclear item gets the 2–3 closest
items as choices; an unclear field gets the item's summary.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from bot.knowledge.catalogue import FIELD_TITLES, Catalogue, ServiceItem
from bot.knowledge.dialect import standard_mandarin
from bot.knowledge.item_recognizer import ItemRecognizer
from bot.text import char_bigrams, normalize
from bot.understanding.follow_up import leans_on_previous, own_words

# Words that ask for one field. Any hit counts; generic words (「需要什么」) only when no field is
# named more precisely (「需要什么条件」 asks for the conditions, not the materials).
FIELD_KEYWORDS = {
    "materials": (
        "材料", "要带", "带什么", "带啥", "带些啥", "带点啥", "准备什么", "准备啥", "准备些啥", "准备些什么", "准备点啥",
        "提交什么", "提交哪些", "资料", "交啥", "交什么", "交些啥", "证件", "复印件",
    ),
    "time_limit": (
        "多久", "多长时间", "几天", "时限", "期限", "时间限制", "多会儿", "多少天", "多少个工作日", "几个工作日", "办结", "多快", "要等",
    ),
    "fee": ("收费", "费用", "多少钱", "要钱", "交钱", "免费", "花钱", "收钱", "付费", "缴费"),
    "location": ("在哪", "哪里办", "哪儿办", "地址", "窗口", "去哪", "地点", "几点", "上班时间", "办公时间", "哪天"),
    "legal_basis": ("依据", "法律", "法规", "哪条规定", "什么规定", "根据什么", "政策依据"),
    "conditions": ("条件", "资格", "能不能办", "能不能申报", "能申报吗", "可以申报吗", "够格", "符合", "门槛", "要求", "不受理", "不予受理"),
    "basic": ("谁能", "谁可以", "谁有资格", "申请对象", "哪些企业", "什么企业", "哪些单位", "什么单位", "哪些人", "什么人能"),
    "online": ("网上", "网办", "线上", "在线", "手机上", "不用跑", "跑一趟", "网上办"),
    "procedure": ("流程", "步骤", "程序", "手续", "办理环节", "邮寄", "寄给", "寄过来", "快递", "送达"),
    "result": ("结果", "拿到什么", "发什么", "什么证", "批文", "文书", "出具", "备案号", "备案编号", "给个啥", "给什么", "谁发", "谁颁发", "谁签发", "发证"),
    "contact": ("电话", "联系方式", "咨询电话", "投诉电话"),
}
_GENERIC_FIELD_WORDS = {"materials": ("要啥", "需要什么", "需要哪些")}
# 「是不是要把整本手册都交上去」「旧证要不要交回去」: whether something is handed in is a materials question.
_HANDED_IN = re.compile(r"(要不要|用不用|需不需要|是不是得|是不是要|得不得|都要|都得)(把[^，,。？?]{1,14})?交(?![钱费])")
# 「我们几个商户能自己去报吗」: who may apply is the record's 申请对象.
_WHO_MAY_APPLY = re.compile(r"(能|可以|能不能|可不可以)(自己|直接)(去)?(报|申报|申请|办)")
# 「境外投资备案咋弄」: how to do it is what to do and what to bring, when nothing narrower is asked.
_HOW_TO = re.compile(r"(怎么|咋|如何|怎样)(办理?|弄|整|搞|申请|操作|去办|来办|走)|咋办")
HOW_TO_FIELDS = ("procedure", "materials")
# Where to look something up (「录完了顾客在哪能查到」「在哪查她有没有不良记录」), as opposed to where to go.
_WHERE_TO_LOOK_UP = re.compile(r"(在哪|哪里|哪儿|去哪|哪能|上哪)(里|儿)?(能|可以)?(查|看到|查到|查询|公示|公布)")
# A telephone call as the way to do something (「打个电话说一声就行吗」「电话里申请行不行」), not its number asked for.
_PHONE_AS_A_MEANS = re.compile(r"打(个|一个|一下)?电话(说|讲|申请|办|报|告诉|通知|问)|电话(里|上)(说|讲|申请|办|报)|(用|通过|靠)电话")
_PHONE_ASKED = re.compile(r"电话(号码?|是|多少|几|呢)|(什么|啥|哪个|哪些)电话|打哪个|联系方式")
# 「签了合同几天内要去备案」 asks for the applicant's own deadline, not how long the agency takes.
APPLICANT_DEADLINE = "applicant_deadline"
APPLICANT_DEADLINE_TITLE = "申请人须在多长时间内办理"
# 「备案信息变了多久内要更新」 asks the period for reporting a change, which is not the first filing's.
CHANGE_DEADLINE = "change_deadline"
_CHANGE_WORDS = r"变更|变了|变化|改了|换了|换人|搬了|搬家|迁址|迁移|挪了|更新|更换|改名|换(法人|股东|负责人|地址|场地|名字)"
_ABOUT_A_CHANGE = re.compile(_CHANGE_WORDS)
# 「那干洗店呢」 after 理发店's materials: the same question about another item.
_SAME_FOR_ANOTHER = re.compile(r"^(那|那么|那要是|要是|还有|换成|如果是)?\s*\S{2,14}?(的话)?\s*(呢|咋样|怎么样)[?？。!！\s]*$")
_CHANGE_CLAUSE = re.compile(r"变更|变化|迁移|迁址|改变")
_APPLICANT_DUTY = re.compile(
    r"(之|以)?内(要|得|必须|就得|应|需|去)|之内|以内|最晚|最迟|截止|逾期|超过.{0,4}(天|日|月)|过了.{0,4}(天|日|月)|"
    r"(以后|之后|后)(最晚|最迟)?(多久|几天|多少天|多长时间)|(多久|几天|多少天|多长时间)(之内|以内|内)|"
    r"(签了|签完|开始|开展|开业|生效|拿到|拿了|领到|领了|下来|成立|变更|取得|搬了|搬家|迁址|改了|变了)|提前|"
    r"有没有(时间)?(限制|期限)|有期限|(之前|以前)要"
)
# 「执照办下来以后几天内得去备案」: something that came through (办下来以后) starts the applicant's own
# period; it says nothing of the agency's time.
_EVENT_BEFORE = re.compile(r"(办下来|批下来|办好|办完|出证|拿到证)了?(以后|之后|后)")
_AGENCY_TIME = re.compile(
    r"办好|办下来|办完|出证|批下来|能拿到|审批要|办结|出结果|给结果|审核要|受理|批得|批复|多久能|几天能|多快|"
    # 「你们审核要几天」 is the agency's time; 「几天内得去你们那备案」 is the applicant going there.
    r"(?<![去到找来往])(你们|贵局)(?!那|这)|给个|给我|答复|回复|回话"
)
_DEADLINE_CLAUSE = re.compile(
    r"[^；;。]*?(?:(?<![月年0-9])[0-9一二三四五六七八九十两]+\s*(?:个)?(?:工作日|日|天|个月|月|年)(?:内|以内|之内|前)|之日起|届满前|前办理|前报送)[^；;。]*"
)

@dataclass(frozen=True)
class Attribute:
    """A fact people ask of an item that the catalogue has no field for (a licence's validity, the
    date a call closes, how to pay): quoted where the record states it, else the reply says the
    record does not, shows the nearest field and the phone, and counts as not answered."""

    key: str
    label: str
    asked: re.Pattern
    stated: re.Pattern
    nearest: str


ATTRIBUTES = (
    Attribute(
        "validity", "证照或备案的有效期",
        re.compile(r"有效期|有效几年|有效多久|有效多长|管几年|几年有效|多久过期|几年一换"),
        re.compile(r"有效期|有效期限|年检|年审|有效\s*[0-9一二三四五六七八九十]+\s*年"), "result",
    ),
    Attribute(
        "closing_date", "具体的截止日期",
        re.compile(r"(哪天|哪一天|几号|几月几[号日]|什么时候|啥时候|何时)截[止至]|截[止至](日期|时间|到哪天|是哪天|是几号|到几号)"),
        re.compile(r"[0-9一二三四五六七八九十]{1,3}月[0-9一二三四五六七八九十]{1,3}[日号]"), "procedure",
    ),
    Attribute(
        "payment", "缴费方式（能否用微信、支付宝、刷卡等）",
        re.compile(
            r"(微信|支付宝|刷卡|扫码|现金|转账|网银|银行卡)\S{0,3}(付|支付|缴|交钱|交费)|(付|支付|缴|交钱|交费)\S{0,3}(微信|支付宝|刷卡|扫码|现金|转账|网银)"
        ),
        re.compile(r"微信|支付宝|刷卡|扫码|现金|转账|网银|银行卡|POS", re.IGNORECASE), "fee",
    ),
    Attribute(  # 「外派劳务要交的备用金具体多少钱」: a sum the applicant holds, not a fee the agency charges
        "amount", "这笔款项的具体数额",
        re.compile(r"(备用金|保证金|押金|风险金|注册资[金本]|资本金|启动资金)[^。？?！!]{0,12}(多少|几万|几千|几百|数额|金额|多高|标准)"),
        re.compile(r"[0-9一二三四五六七八九十百千万两]+\s*(万元|元|万)"), "conditions",
    ),
    Attribute(
        "frequency", "报送的周期（按月、按季度还是按年）",
        re.compile(
            r"(多久|多长时间|几个月|多少天)(要|得|需要)?(报|报送|报告|上报|填报)一次|一年(要|得)?报几次|(报送|报告|填报|上报)周期|"
            r"按(月|季度?|年|半年)\S{0,3}还是|还是按(月|季度?|年|半年)|(每月|每季度?|每年)\S{0,3}还是|"
            r"(一个?|每个?)(月|季度?|年|半年)[^，,。？?]{0,6}(一次)?还是"
        ),
        re.compile(r"每个?月|每季度?|每半?年|每周|按月|按季|按年|月度|季度|[0-9一二三四五六七八九十]{1,2}月[0-9一二三四五六七八九十]{1,3}日(前|之前|至)"),
        "procedure",
    ),
    Attribute(  # 「坐几路公交能到政务服务中心」: the address is no bus route
        "transit", "公交、地铁等乘车路线",
        re.compile(r"公交|地铁|几路车|几路(能|可以)?到|坐(什么|啥)车|乘车路线|坐车(怎么|咋)"),
        re.compile(r"公交|地铁|路车|乘车|站下车"), "location",
    ),
    Attribute(  # 「商务局今年的部门预算一共多少钱」: a sum spent, which a passage about fees does not state
        "spending", "具体金额",
        re.compile(r"(预算|决算|经费|支出|开支|花了|花费|拨款|三公)[^。？?！!]{0,10}(多少|几万|几千|几百|几个亿|数额|金额)"),
        re.compile(r"[0-9一二三四五六七八九十百千万两.]+\s*(万元|亿元|元|万|亿)"), "fee",
    ),
    Attribute(
        "parking", "停车安排",
        re.compile(r"车位|停车场|好停车|能停车|停车(要钱|收费|方便|怎么|吗|不|的地方)|泊车"),
        re.compile(r"停车|车位|泊车"), "location",
    ),
    Attribute(
        "head_name", "负责人的姓名",
        re.compile(r"(局长|副局长|负责人|一把手|领导|处长|主任)\S{0,4}(叫|是谁|是哪位|姓什么|姓啥|名字|哪位)"),
        re.compile(r"(局长|负责人|主任|处长)[：:]\s*\S{2,4}"), "contact",
    ),
    Attribute(  # 「开拍卖行最少得有几个拍卖师」: a headcount the conditions may only describe (「相适应的拍卖师」)
        "headcount", "具体的人数要求",
        re.compile(
            r"(最少|至少|起码|要求|需要|要|得|必须)[^，,。？?]{0,3}(几个|几名|几位|多少个|多少名|多少位|多少)"
            r"(人|员工|拍卖师|专职|工作人员|技术人员|管理人员|从业人员)|"
            r"(员工|拍卖师|专职人员|技术人员|管理人员|从业人员)[^，,。？?]{0,4}(最少|至少|起码|要|得|需要)[^，,。？?]{0,2}(几个|几名|几位|多少)"
        ),
        # 「培训家政持证上门服务人员4万人」: a count in 万 is a headcount too.
        re.compile(r"[0-9一二三四五六七八九十百千万两]+\s*(名|个|位|人)(以上)?[^。；]{0,8}(拍卖师|人员|员工|专职)|(拍卖师|人员|员工)[^。；]{0,4}[0-9一二三四五六七八九十百千万两.]+\s*(名|个|位|人)"),
        "conditions",
    ),
    Attribute(  # 「过了30天还没去备案罚多少钱」: the catalogue sets duties, not what breaking them costs
        "penalty", "逾期或违规的处罚",
        re.compile(
            r"罚(多少|几[千万百]|钱|不罚|吗|么)|(会|要|得|就)被?罚|被罚|挨罚|罚则|(怎么|咋|如何)处?罚|"
            r"罚款(多少|标准|是多少|几)|处罚(标准|力度|多重|多少|是啥|是什么)"
        ),
        re.compile(r"罚款|处罚|罚则"), "legal_basis",
    ),
    Attribute(  # 「预收资金要存管多少比例」: a share the record may only say exists (「按规定存管」)
        "proportion", "具体的比例",
        re.compile(r"多少比例|比例(是|为)?多少|百分之几|百分之多少|几成|多少个点|比例多大|比例多高"),
        re.compile(r"[0-9一二三四五六七八九十百.]+\s*(%|％)|百分之|[0-9一二三四五六七八九十]成"), "conditions",
    ),
    Attribute(  # 「专项资金几月份开始申报」: a month the record leaves to each year's notice
        "month", "具体的月份",
        re.compile(r"几月份?(开始|截止|申报|报|办|启动|发|出)|哪个月|什么月份|啥月份|几月份"),
        re.compile(r"[0-9一二三四五六七八九十]{1,2}\s*月(?!份?内)|季度|上半年|下半年|年初|年底|年末"), "procedure",
    ),
    Attribute(  # 「示例市去年社会消费品零售总额是多少」: an economic figure, which guides and rules do not give
        "statistic", "具体的统计数据",
        re.compile(r"(总额|总量|总值|产值|营业额|销售额|进出口额|增长率|增速|GDP|gdp)[^，,。？?]{0,4}(是|有|为|达到)?(多少|几)"),
        re.compile(r"[0-9.]+\s*(亿元|万元|亿美元|万美元|%|％)"), "basic",
    ),
    Attribute(  # 「你们局去年一共收了多少件申请」: the count is in the annual report, not in a guide
        "count", "具体的统计数字",
        re.compile(r"(一共|总共|共计|总计|全年|去年|今年|前年|每年|一年|[0-9]{4}\s*年)\S{0,12}(多少|几)(件|个|份|起|家|条|项)"),
        re.compile(r"(?<![第0-9一二三四五六七八九十百千万])([0-9一二三四五六七八九十百千万两]+\s*(件|起|例|家|条|项|人|名|户|万|亿|篇|场|个(?!工作日|自然日|月|小时))|[0-9]+\s*人?次)"),
        "basic",
    ),
)
_ATTRIBUTES = {a.key: a for a in ATTRIBUTES}
# A passage answering 「信息变了多久内要更新」 must state a period for the change; on a card the
# applicant's deadlines are sorted instead (CHANGE_DEADLINE), so this one is for passages only.
CHANGE_PERIOD = Attribute(
    "change_period", "事项变更后办理变更的期限",
    re.compile(
        rf"({_CHANGE_WORDS})[^。？?！!]{{0,12}}(多久|几天|多少天|多长时间|期限|时间限制|截止)"
    ),
    re.compile(r"变更[^。；]{0,20}[0-9一二三四五六七八九十两]+\s*个?(工作日|日|天|月)(内|以内|之内)"), "note",
)
PASSAGE_ATTRIBUTES = (*ATTRIBUTES, CHANGE_PERIOD)

# A follow-up that is only a field question ("那要多久？") is short once these are removed.
_FILLERS = re.compile(r"[那这个它还呢吗嘛啊呀吧么的了要得需请问一下办理办需要是多少怎么样？?！!，,。\s]")
_FOLLOW_UP_MAX_CHARS = 4
# Words that say nothing of the subject in a question put while filling in a form (「一般多久给回话」).
_FORM_QUESTION_FILLERS = re.compile(r"一般|大概|通常|大约|大致|正常|我|你们|给|有|能|会|才|就")
FUZZY_MIN_SIMILARITY = 0.3
# A follow-up that names this much of another item (「拍卖行」 for 拍卖企业设立审批) is about that one.
PARTLY_NAMED_ELSEWHERE = 0.5
# A follow-up with no field's name is about the field of the item in focus sharing this many word pairs.
FIELD_SHARED_WORDS = 2
GENERIC_NAME_ITEMS = 3
# Bigrams of an item's name, other than generic ones, that single it out (二手车: 二手, 手车).
SINGLED_OUT_BIGRAMS = 2
FUZZY_CONFIDENT = 0.7
FUZZY_MARGIN = 0.15


@dataclass(frozen=True)
class ItemQuery:
    """What a question asks about the catalogue."""

    item: ServiceItem | None = None
    fields: tuple[str, ...] = ()
    candidates: tuple[ServiceItem, ...] = ()  # when the item is unclear
    follow_up: bool = False  # read with the previous turn: its item (「要钱吗」) or its field (「那干洗店呢」)
    mentioned: ServiceItem | None = None  # named, but the question is not one its card answers


@dataclass(frozen=True)
class ItemAnswer:
    text: str
    citation: str
    item: ServiceItem | None = None
    buttons: list[dict] = field(default_factory=list)
    # False when the record lacks the asked-for fact (the reply says so and shows what it has).
    complete: bool = True

    @property
    def message(self) -> str:
        return f"{self.text}\n{self.citation}" if self.citation else self.text


class ServiceItemDesk:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._by_code = {item.code: item for item in catalogue.items}
        self._by_doc = {item.doc_id: item for item in catalogue.items}
        names = []
        for item in catalogue.items:
            for name in {item.name, *item.aliases}:
                names.append((normalize(name).lower(), item))
        self._names = sorted(names, key=lambda pair: -len(pair[0]))  # longest first
        # Bigrams many items' names share (备案, 审批, 经营): they name a kind of item, not one item.
        spread = Counter(b for item in catalogue.items for b in {g for n in (item.name, *item.aliases) for g in char_bigrams(normalize(n).lower())})
        self._generic = frozenset(b for b, n in spread.items() if n >= GENERIC_NAME_ITEMS)
        # Per item, the bigrams of all its names: what singles it out among its siblings (narrowed).
        self._name_bigrams = {
            item.code: frozenset(g for name, owner in self._names if owner is item for g in char_bigrams(name)) for item in catalogue.items
        }
        self._recognizer: ItemRecognizer | None = None  # built on first use: the Rasa process needs only the names

    def item(self, code: str | None) -> ServiceItem | None:
        return self._by_code.get(code or "")

    def item_of_document(self, doc_id: str) -> ServiceItem | None:
        """The item whose catalogue entry is the document `doc_id` (a passage's own item)."""
        return self._by_doc.get(doc_id)

    def named_items(self, text: str) -> list[ServiceItem]:
        """Items named in the text (spaCy EntityRuler over catalogue names and aliases), each once."""
        if self._recognizer is None:
            self._recognizer = ItemRecognizer(self.catalogue)
        return self._recognizer.items_in(text)

    def similarities(self, text: str) -> list[tuple[ServiceItem, float]]:
        """Items by how much of their best-covered name the text contains (0–1), best first."""
        grams = char_bigrams(text)
        scored: dict[str, float] = {}
        for name, item in self._names:
            name_grams = char_bigrams(name)
            if name_grams:
                coverage = len(grams & name_grams) / len(name_grams)
                scored[item.code] = max(scored.get(item.code, 0.0), coverage)
        ranked = sorted(scored.items(), key=lambda kv: -kv[1])
        return [(self._by_code[code], score) for code, score in ranked]

    def speaks_of_an_item(self, text: str) -> bool:
        """Whether the text says enough of some item's name to single it out (二手车, 预付卡, 拍卖)."""
        return any(self.specific_overlap(text, item) >= SINGLED_OUT_BIGRAMS for item in self.catalogue.items)

    def specific_overlap(self, text: str, item: ServiceItem) -> int:
        """How many of the bigrams that single out `item` among the catalogue (not 备案, 审批) the text says."""
        grams = char_bigrams(normalize(text).lower()) - self._generic
        return max((len(grams & char_bigrams(name)) for name, owner in self._names if owner is item), default=0)

    def item_meant(self, item: ServiceItem, text: str) -> ServiceItem:
        """The item a question means, given the one it was matched to: a sibling it names more
        narrowly (分公司), then the 变更 sibling or not, by whether a change is spoken of."""
        return self.for_a_change(self.narrowed(item, text), text)

    def narrowed(self, item: ServiceItem, text: str) -> ServiceItem:
        """「拍卖公司想开个分公司」 matched to 拍卖企业设立审批 means its sibling 拍卖企业分公司设立审批: the
        question says words only the sibling's names have, and no fewer than of the item's own."""
        grams = char_bigrams(normalize(text).lower()) - self._generic
        own = self._name_bigrams[item.code]
        for other in self.catalogue.items:
            if other is item or not other.name.startswith(item.name[:2]):
                continue
            theirs = self._name_bigrams[other.code]
            said = len(grams & (theirs - own))
            if said and said >= len(grams & (own - theirs)):
                return other
        return item

    def for_a_change(self, item: ServiceItem, text: str) -> ServiceItem:
        """「拍卖公司法人换人了 要带啥」: a change to what was approved is the item's 变更 sibling
        (拍卖企业设立审批 → 拍卖企业变更审批) where the catalogue has one; and a question that speaks of
        no change (「拍卖行审批下来给个啥文书」) is about the first approval, not the 变更 sibling that
        retrieval may rank level with it."""
        changing = bool(_ABOUT_A_CHANGE.search(normalize(text)))
        if ("变更" in item.name) == changing:
            return item
        # The pair shares the name before 变更: 拍卖企业 of 拍卖企业设立审批 and 拍卖企业变更审批.
        for other in self.catalogue.items:
            change, first = (other, item) if changing else (item, other)
            head = change.name.split("变更", 1)[0]
            if other is not item and ("变更" in other.name) == changing and len(head) >= 2 and first.name.startswith(head):
                return other
        return item

    def may_be_about(self, text: str, item: ServiceItem) -> bool:
        """Whether a question that names no item may still ask about `item`: it speaks of a service
        (备案, 审批 …) or says a word that singles the item out. 「政务服务中心停车要钱不」 does
        neither, whatever item retrieval finds nearest."""
        return mentions_a_service(normalize(text)) or self.specific_overlap(text, item) >= 1

    def closest(self, text: str, limit: int = 3) -> list[ServiceItem]:
        return [item for item, score in self.similarities(text)[:limit] if score >= FUZZY_MIN_SIMILARITY]

    def recognised_item(self, text: str) -> ServiceItem | None:
        """A name said nearly in full (「对外贸易经营者备案」 for …备案登记), clearly ahead of the rest."""
        ranked = self.similarities(text)
        if not ranked or ranked[0][1] < FUZZY_CONFIDENT:
            return None
        if len(ranked) > 1 and ranked[1][1] > ranked[0][1] - FUZZY_MARGIN:
            return None
        return ranked[0][0]

    @staticmethod
    def asked_fields(text: str) -> tuple[str, ...]:
        text = normalize(text)
        plain = standard_mandarin(text)  # 「发啥证」 asks what 「发什么证」 asks
        fields = [key for key, words in FIELD_KEYWORDS.items() if any(w in text or w in plain for w in words)]
        if not fields:
            fields = [key for key, words in _GENERIC_FIELD_WORDS.items() if any(w in text or w in plain for w in words)]
        if _HANDED_IN.search(plain) and "materials" not in fields:
            fields.append("materials")
        if _WHO_MAY_APPLY.search(plain) and "basic" not in fields:
            fields.append("basic")
        if "location" in fields and _WHERE_TO_LOOK_UP.search(plain) and not any(w in text for w in ("窗口", "地址", "地点", "哪里办", "哪儿办")):
            # 「顾客在哪能查到」: where the results are published (the procedure's 查询 step, the result), not the window
            fields[fields.index("location")] = "procedure"
            if "result" not in fields:
                fields.append("result")
        if "contact" in fields and _PHONE_AS_A_MEANS.search(text) and not _PHONE_ASKED.search(text):
            fields.remove("contact")  # 「是不是打个电话说一声就行」 asks whether a call will do, not for the number
        if "time_limit" in fields and _APPLICANT_DUTY.search(text) and not _AGENCY_TIME.search(_EVENT_BEFORE.sub("", text)):
            fields[fields.index("time_limit")] = CHANGE_DEADLINE if _ABOUT_A_CHANGE.search(text) else APPLICANT_DEADLINE
            if CHANGE_DEADLINE in fields and "location" in fields:
                fields.remove("location")  # 「地址变了多久内要更新」: the changed address is not asked for
        if fields == ["location"] and _ABOUT_A_CHANGE.search(text) and not any(
            w in text for w in FIELD_KEYWORDS["location"] if w != "地址"
        ):
            fields = [CHANGE_DEADLINE]  # 「那后来地址变了呢」: what to do when it changes, not where the window is
        attributes = [a.key for a in ATTRIBUTES if a.asked.search(text)]
        if attributes:  # 「成品油零售那个证有效期几年」 asks the validity, not the certificate's name
            fields = attributes + [f for f in fields if f not in ("result", "location", "time_limit", APPLICANT_DEADLINE, CHANGE_DEADLINE, "fee")]
        return tuple(fields)

    @staticmethod
    def _without_field_words(text: str) -> str:
        """The question less the words that ask for a field: what is left names its subject, if any."""
        stripped = normalize(text)
        for words in (*FIELD_KEYWORDS.values(), *_GENERIC_FIELD_WORDS.values()):
            for word in words:
                stripped = stripped.replace(word, "")
        for attribute in PASSAGE_ATTRIBUTES:  # 「截止到几号」「有效期多久」 ask a fact of the same item
            stripped = attribute.asked.sub("", stripped)
        return _FILLERS.sub("", stripped)

    @classmethod
    def is_follow_up(cls, text: str) -> bool:
        return len(cls._without_field_words(text)) <= _FOLLOW_UP_MAX_CHARS

    def words_beside_item(self, text: str, item: ServiceItem) -> str:
        """What a question says besides asking a field of `item` (「投诉了一般多久给回话」 during the
        complaint form leaves 「回话」): the field words, the item's own words and fillers removed."""
        rest = self._without_field_words(text)
        for bigram in self.name_bigrams(item):
            rest = rest.replace(bigram, "")
        return _FORM_QUESTION_FILLERS.sub("", rest)

    @staticmethod
    def name_bigrams(item: ServiceItem) -> frozenset[str]:
        """The character pairs of the item's name and aliases: words a question shares with it by naming it."""
        return frozenset().union(*(char_bigrams(normalize(name)) for name in (item.name, *item.aliases)))

    def understand(
        self, text: str, previous_code: str | None = None, chosen_code: str | None = None, previous_fields: tuple[str, ...] = ()
    ) -> ItemQuery:
        """`previous_fields`: what the turn before asked, for 「那干洗店呢」."""
        fields = self.asked_fields(text)
        plain = normalize(text)
        chosen = self.item(chosen_code)
        if chosen:
            return ItemQuery(item=chosen, fields=fields)
        named = self.named_items(text) or [i for i in [self.recognised_item(text)] if i]
        if not fields and previous_fields and (other := self._same_question_about(text, named, previous_code)):
            return ItemQuery(item=other, fields=previous_fields, follow_up=True)
        if len(named) == 1:
            item = self.item_meant(named[0], text)
            if item is not named[0] and CHANGE_DEADLINE in fields and not any(w in plain for w in FIELD_KEYWORDS["time_limit"]):
                # 「拍卖公司搬了新地址 证要换吗」: what to do on the change is the 变更 item itself, not a period
                fields = tuple(f for f in fields if f != CHANGE_DEADLINE)
            if (not fields or fields == ("result",)) and self._names_material(item, text):
                fields = ("materials",)  # 「要的那个危险化学品经营许可证是谁发的」: a material's note says
            if not fields and _HOW_TO.search(plain) and self._about_the_item_as_a_whole(item, text):
                fields = HOW_TO_FIELDS
            if not fields and not self._about_the_item_as_a_whole(item, text):
                # 「我不是本地人，也能申请公开吗」 names 申请公开 but asks something the card does not
                # say: retrieval answers it (and may still cite the item's own guide).
                return ItemQuery(fields=fields, mentioned=item)
            return ItemQuery(item=item, fields=fields)
        if len(named) > 1:
            return ItemQuery(fields=fields, candidates=tuple(named[:3]))
        previous = self.item(previous_code)
        if previous is not None and self.points_elsewhere(text, previous):
            previous = None  # 「拍卖行要啥条件」 after 加油站: a new subject, though as short as a follow-up
        if previous and not fields and self.is_follow_up(text):
            if _HOW_TO.search(plain):
                fields = HOW_TO_FIELDS  # 「那咋弄」 after an item's answer
            elif _ABOUT_A_CHANGE.search(plain):
                fields = (CHANGE_DEADLINE,)  # 「那名字改了呢」
        if previous and fields and (self.is_follow_up(text) or leans_on_previous(text)):
            return ItemQuery(item=previous, fields=fields, follow_up=True)
        if fields and mentions_a_service(text):
            return ItemQuery(fields=fields, candidates=tuple(self.closest(text)))
        return ItemQuery(fields=fields)

    def _same_question_about(self, text: str, named: list[ServiceItem], previous_code: str | None) -> ServiceItem | None:
        """The other item of 「那干洗店呢」「洗染业备案呢」 after an item's answer: named, or half named
        and pointing away from the previous item."""
        previous = self.item(previous_code)
        if previous is None or not _SAME_FOR_ANOTHER.match(normalize(text)):
            return None
        if len(named) == 1:
            return named[0]
        ranked = self.similarities(text)
        if named or not ranked or len(ranked) > 1 and ranked[1][1] >= ranked[0][1]:
            return None  # 「那备案呢」: no one item stands out
        item, score = ranked[0]
        if item is previous:  # 「那洗衣店呢」 right after 干洗店: the same question again
            return item if score >= PARTLY_NAMED_ELSEWHERE else None
        return item if self.points_elsewhere(text, previous) else None

    @staticmethod
    def field_sharing_words(text: str, item: ServiceItem) -> str | None:
        """The field of `item` that shares most of the question's own words, at least
        FIELD_SHARED_WORDS pairs (「场地有啥标准」: the conditions name 场地 and 国家标准)."""
        words = own_words(text)
        shared, key = max((len(words & char_bigrams(item.field_text(key))), key) for key in FIELD_TITLES if key != "basic")
        return key if shared >= FIELD_SHARED_WORDS else None

    def points_elsewhere(self, text: str, previous: ServiceItem) -> bool:
        """The question half names another item (「拍卖行」「二手车那个」「展会的呢」) and nothing of the
        previous one."""
        ranked = self.similarities(text)
        if not ranked or ranked[0][0] is previous or self.specific_overlap(text, previous) > 0:
            return False
        other, score = ranked[0]
        return score >= PARTLY_NAMED_ELSEWHERE or score >= FUZZY_MIN_SIMILARITY and self.specific_overlap(text, other) >= 1

    @staticmethod
    def _names_material(item: ServiceItem, text: str) -> bool:
        """「备案要营业执照吗」: a material of the item named in the question, or shortened the way
        people shorten it (「危化品那个证」 for 危险化学品经营许可证)."""
        text = normalize(text)
        own = set("".join((item.name, *item.aliases)))  # a shortening of the item's own name names the item
        return any(len(m.name) >= 3 and (m.name in text or _shortened_in(m.name, text, own)) for m in item.materials)

    @staticmethod
    def _about_the_item_as_a_whole(item: ServiceItem, text: str) -> bool:
        """The question is little more than the item's name (「外贸备案怎么办」「预付卡备案」)."""
        rest = normalize(text).lower()
        for name in sorted({item.name, *item.aliases}, key=len, reverse=True):
            rest = rest.replace(normalize(name).lower(), "")
        return len(_WHOLE_ITEM_FILLERS.sub("", rest)) <= WHOLE_ITEM_MAX_OTHER_CHARS

    def citation(self, item: ServiceItem) -> str:
        sample = "（示例数据）" if self.catalogue.sample else ""
        return f"来源：《{self.catalogue.title}》{sample}，{self.catalogue.agency}，{item.name}（{item.code}）"

    def answer(self, query: ItemQuery) -> ItemAnswer | None:
        """None when the question is not about a catalogue item (retrieval answers it instead)."""
        if query.item is None:
            if not query.candidates:
                return None
            return ItemAnswer(
                text="您问的是下面哪个事项？请点选，或者说出事项的完整名称。",
                citation="",
                buttons=[
                    {"title": f"{c.name}", "payload": f'/ask_knowledge{{"service_item": "{c.code}"}}'}
                    for c in query.candidates
                ],
            )
        item = query.item
        header = f"【{item.name}（{item.code}）】"
        if not query.fields:
            return ItemAnswer(text=header + "\n" + self.summary(item), citation=self.citation(item), item=item)
        lines, missing = [], []
        for key in query.fields:
            if key in _ATTRIBUTES:
                stated = _attribute_lines(item, _ATTRIBUTES[key])
                if not stated:
                    return self._unrecorded(item, _ATTRIBUTES[key], header)
                lines.extend(line for line in stated if line not in lines)
                continue
            if key in (APPLICANT_DEADLINE, CHANGE_DEADLINE):
                clauses = applicant_deadlines(item)
                if key == CHANGE_DEADLINE:
                    clauses = [c for c in clauses if _CHANGE_CLAUSE.search(c)]
                if clauses:
                    lines.append(f"{APPLICANT_DEADLINE_TITLE}：" + "；".join(clauses) + "。")
                else:
                    missing.append(key)
                continue
            lines.append(f"{FIELD_TITLES[key]}：{item.field_text(key)}")
            if key == "location" and "online" not in query.fields and item.online:
                # 「出口许可证在哪申请」: for many items the real "where" is an online system.
                lines.append(f"{FIELD_TITLES['online']}：{item.field_text('online')}")
        if missing and not lines:
            # Say so rather than answer a neighbouring field; show what the record has on timing.
            duty = "事项内容发生变更后，申请人需要在多长时间内办理变更" if CHANGE_DEADLINE in missing else "申请人需要在多长时间内办理这一事项"
            stated = applicant_deadlines(item) if CHANGE_DEADLINE in missing else []
            shown = (
                f"目录写明的期限是首次办理的：{'；'.join(stated)}。" if stated
                else f"目录中的办理时限是本机关处理申请的时间，供参考：{item.field_text('time_limit')}"
            )
            text = f"{header}\n事项目录没有写明{duty}。{shown}\n具体要求请咨询：{item.consult_phone}。"
            return ItemAnswer(text=text, citation=self.citation(item), item=item, complete=False)
        return ItemAnswer(text=header + "\n" + "\n".join(lines), citation=self.citation(item), item=item)

    def _unrecorded(self, item: ServiceItem, attribute: Attribute, header: str) -> ItemAnswer:
        text = (
            f"{header}\n事项目录没有写明{attribute.label}。目录中相关的内容供参考：\n"
            f"{FIELD_TITLES[attribute.nearest]}：{item.field_text(attribute.nearest)}\n具体情况请咨询：{item.consult_phone}。"
        )
        return ItemAnswer(text=text, citation=self.citation(item), item=item, complete=False)

    @staticmethod
    def summary(item: ServiceItem) -> str:
        """What a service guide leads with, and what else can be asked."""
        keys = ("basic", "time_limit", "fee", "location", "online")
        lines = [f"{FIELD_TITLES[key]}：{item.field_text(key)}" for key in keys]
        lines.append("您还可以问：申请材料、受理条件、办理流程、设定依据、咨询电话。")
        return "\n".join(lines)


def _shortened_in(name: str, text: str, ignored: set[str]) -> bool:
    """A run of three or more characters of `text` that starts the name and takes its other characters in
    order, skipping some (危化品 in 危险化学品经营许可证): how Chinese abbreviations are formed. A run
    made only of `ignored` characters does not count."""
    name = name.lstrip("原《").rstrip("》")
    for start in (i for i, ch in enumerate(text) if ch == name[0]):
        matched, j = 0, 0
        for ch in text[start:]:
            k = name.find(ch, j)
            if k < 0:
                break
            matched, j = matched + 1, k + 1
        run = text[start : start + matched]
        if matched >= 3 and j > matched and not set(run) <= ignored:  # skipped something: a shortening
            return True
    return False


def unstated_attribute(question: str, text: str) -> Attribute | None:
    """The fact the question asks for that has no field anywhere and that `text` does not state."""
    question = normalize(question)
    return next((a for a in PASSAGE_ATTRIBUTES if a.asked.search(question) and not a.stated.search(text)), None)


def _attribute_lines(item: ServiceItem, attribute: Attribute) -> list[str]:
    """The record's fields that state the attribute, as 「字段：内容」 lines."""
    return [
        f"{title}：{text}" for key, title in FIELD_TITLES.items() if attribute.stated.search(text := item.field_text(key))
    ]


# Periods the agency keeps (受理、答复、办结) are its processing time, not the applicant's duty.
_AGENCY_CLAUSE = re.compile(r"收到|受理|答复|办结|告知|决定|时限")


def applicant_deadlines(item: ServiceItem) -> list[str]:
    """Clauses of the record that set a period the applicant must keep (「自开展业务之日起30日内办理备案」)."""
    texts = [*item.conditions, *item.procedure, item.applicants, item.note, *(m.note for m in item.materials)]
    found: list[str] = []
    for text in texts:
        for match in _DEADLINE_CLAUSE.finditer(text or ""):
            clause = match.group(0).strip(" ，,")
            if clause and clause not in found and not _AGENCY_CLAUSE.search(clause):
                found.append(clause)
    return found


# What may surround an item's name in a question about the item as a whole.
_WHOLE_ITEM_FILLERS = re.compile(
    r"怎么|如何|怎样|咋|办理?|申请|是什么|什么|啥|介绍|一下|了解|咨询|请问|我|想|要|需要|的|吗|呢|啊|呀|吧|么|"
    r"你们|这个|那个|事项|业务|手续|流程|相关|情况|说说|讲讲|能|可以|在|哪|去|个|\W"
)
WHOLE_ITEM_MAX_OTHER_CHARS = 4

_SERVICE_WORDS = ("备案", "备个案", "备下案", "报备", "审批", "许可", "登记", "认定", "资格", "资质", "证", "申报", "核准", "设立", "变更", "事项")


def mentions_a_service(text: str) -> bool:
    """备案, 审批, 资质 …: the question speaks of doing one of the agency's services."""
    return any(word in text for word in _SERVICE_WORDS)
