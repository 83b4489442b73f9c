"""Which path a message takes: answer it, or start something. Fails safe towards answering.

DIET learns intents from a few hundred examples and readily sends an ordinary question down a
form (「你们几点开门」 read as a complaint). A form, a status query or a handoff therefore needs
the classifier's vote *and* words that ask for that action; a social reply needs a short social
message. A request said without its own words is known by its shape: a wished change to what the
agency runs (a suggestion), a grievance with the agency asked to act (a complaint), one of the
agency's records asked to be handed over (an application). Everything else is a question for the
knowledge base, which says honestly when it has no answer. Where a request and a question are
equally plausible, or the classifier is all but certain of a request no word names, the person is
asked in one turn with buttons (Rasa's two-stage fallback, see
bot.understanding.dialogue.affirmation_prompt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text import normalize, normalize_query

KNOWLEDGE = "ask_knowledge"
FALLBACK = "nlu_fallback"
APPLY = "apply_disclosure"
COMPLAIN = "file_complaint"
STATUS = "check_status"
HUMAN = "request_human"
CANCEL = "cancel_request"
ACTION_INTENTS = (APPLY, COMPLAIN, STATUS)
# Intents that start something; a request for a person is one when the classifier hears it.
STARTING_INTENTS = ACTION_INTENTS + (HUMAN,)
SOCIAL_INTENTS = ("greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "ask_capabilities")
# Only reachable from buttons (「确认提交」「修改」) or inside a request; typed text keeps them only
# when it is short, like a button press.
REQUEST_STEP_INTENTS = ("confirm_request", "correct_request")
OUT_OF_SCOPE = "out_of_scope"

# Someone who works at the agency, however a person calls them.
_STAFF = r"(人工|真人|活人|客服|工作人员|经办人员?|办事的(同志|人)|上班的人|负责的人|管事的人?|值班的(同志|老师|人)?|专人|领导|负责人|主任|局长)"
# A person, asked for explicitly. Mentioning staff in a question (「工作人员是兼职吗」) is not.
_HUMAN = re.compile(
    r"(转|接|找|叫|要|换|联系|需要|来|让)(给|到)?(一?个|一下|下)?(人工|真人|活人|客服|工作人员|值班的|人来)"
    r"|人工(服务|客服|坐席|回复|处理|咨询)?$|^(人工|真人|活人|客服)"
    r"|(跟|和|与)(真人|活人|人工|工作人员)(说|聊|讲|对话|沟通)"
    r"|不要(跟)?机器人|别(用)?机器人|机器人(听不懂|不行|没用)|不想(跟|和)机器|"
    # 「别让电脑回了」「我找人说」「值班的同志在不在」
    r"(别|不要|不想)(让|跟|和|用)?(电脑|机器|AI|人工智能)(回|答|说|聊)|找(个)?人(说|聊|讲|问问)(?!过)|"
    rf"({_STAFF}|同志|老师)(在不在|在吗|在没在|有空吗)|"
    r"(找|叫|要|让|请)(你们)?(的)?(领导|负责人|主任|局长)(来|出来|说话|接电话)?$|"
    r"(安排|让|请)(个|一个)?(工作人员|专人|人)(联系|打电话|回电)|打(个)?电话给我|(跟|和)(人|真人)(直接)?(讲|说|谈)|懂行的人|"
    # 「有没有活人啊」「让你们上班的人来」「需要跟经办人员直接沟通」: a person of the agency, by any name.
    r"(有没有|有木有|有无|还有没有)(个)?(人工|真人|活人|客服|工作人员|值班的(同志|老师|人)|管事的(同志|人))|^有(个)?(人工|真人|活人|客服)(吗|么|没|没有|不)?\W*$|"
    rf"(找|叫|让|请|换)(一?个|一下|下)?(你们)?(的)?{_STAFF}(直接|当面)?(来|出来|过来|说|聊|讲|谈|沟通|接)|"
    rf"(跟|和|与|同)(你们)?(的)?{_STAFF}(直接|当面)?(说|聊|讲|谈|沟通|对话|反映)"
)
# Calling a person by any name: 「换个人」「叫你们负责的来」「来个人啊」「转rengong」「让科室的人给我回个电话」.
_SUMMONS = re.compile(
    r"rengong|ren gong|"
    r"(转|接|找|叫|换|来|让|请|弄|安排|要)(一?个|一下|下)?(你们)?(的)?(懂\S{0,4}的)?(业务|办事|局里|科室|信息公开)?"
    r"(人|同志|老师|负责的|领导|接线员|值班的?|科室的人|窗口的老师|工作人员|人工|真人|活人|客服)"
    r"(来|过来|出来|说话|跟我|和我|给我|对接|接|回电|打电话|直接|当面|吧|啊|呗|$)|"
    r"(给我|帮我)(接|转)(人|人工|一下)|(人|人工)呢[?？!！]*$|可以人工|能人工|"
    r"(转|接)(给|到)(你们)?(的)?(局里|科室|窗口|上班|值班|办事|管事)?的?(人|同志|老师|工作人员)(?!(说|讲)过|处理|办理|审|核|的|以后|后)|"
    r"(找|跟|和|同|让|请)(你们)?(局里)?(负责|管)(这块|这个|这方面|这事|这摊|这一块)(事|业务)?的(老师|同志|人|工作人员|领导)|"
    r"(跟|和|同)(你们)?(局里|信息公开办|科室|窗口)?的?(人|同志|老师|工作人员)(直接)?(聊|说|讲|谈|沟通)|"
    # 「叫个懂行的来」「有个小伙子直接跟俺唠」「跟负责信息公开的老师语音沟通」
    r"懂行的(来|过来|跟我|和我)|(有|来|找|叫)个\S{0,6}直接(跟|和)(我|俺)(唠|聊|说|讲|谈)|"
    r"(跟|和|同|与)(你们)?(负责|管)\S{0,8}的(老师|同志|人|工作人员|领导)(直接|当面|语音|电话)?(说|聊|讲|谈|沟通|联系)"
)
# Questions about the human service itself (its hours, its number), as opposed to asking for it.
_ABOUT_THE_SERVICE = re.compile(r"几点|几时|时间|多少|电话|号码|周末|工作日|(什么时候|啥时候)(上班|下班)|开吗|开门|收费|要钱|只有")
# Asking whether staff will do something for one (「让工作人员帮我填申请表可以吗」「窗口的人能替我写吗」):
# a question about the service the documents describe (代为填写), not a call for a person now.
_STAFF_HELP_ASKED = re.compile(
    r"(工作人员|窗口的?(人|同志|老师)|办事的(人|同志)|你们的?人)\S{0,3}(帮|替|代)(我|忙|着)?\S{0,2}(填|写|读|念|看|弄|办)"
    r"[^。！!]{0,14}(可以|能|行|成|吗|么|不|没)\W*$|(能|可以|会)不?(能|可以|会)?(让|请)?(工作人员|窗口的?(人|同志|老师))(帮|替|代)"
)
_CALLED_FOR = re.compile(r"(找|叫|转|接|换)(一?个|一下|下)?(你们)?(的)?(人工|真人|活人|客服|工作人员|人)")
# Leaving a form or a request.
_CANCEL = re.compile(
    r"^(我|俺)?(算了|不办了|不弄了|不填了|不申请了|不投诉了|不举报了|不建议了|不查了|不要了|不用了|取消|退出|撤销|撤了|放弃|先不|暂时不|不想(办|弄|填|申请|投诉|举报|查)了?)"
    r"|(算了|不办了|不弄了|不填了|不申请了|不投诉了|不举报了|不查了|不用了|撤了|取消吧|取消申请|取消投诉|不想(办|弄|填|申请|投诉|举报)了)[吧啊呀。！!,，~]*$"
)
# A clause that only leaves (「哎不弄了不弄了 太麻烦」「算了 老板给退了 不弄了」「改天再说吧 要去接孩子了」):
# the rest of a short message says why, it asks nothing.
_CANCEL_CLAUSE = re.compile(
    r"^(哎呀|哎|唉|嗨|呃|嗯|那|那就|行|好)?(我|俺)?(还是)?(这边|这个|这儿)?(先|就)?"
    r"((算了|不办了|不弄了|不填了|不搞了|不整了|不申请了|不投诉了|不举报了|不查了|不要了|不用了|不说了|不想(办|弄|填|搞|申请|投诉|举报)了)(吧|啊|呀|了)?)+$|"
    # 「没啥了不说了 你们忙吧」: nothing more to say.
    r"^(没啥|没事|没什么)(了|好说的)?不说了$|"
    r"^(那|那就|我|俺)?(改天|下次|以后|回头|过两天|过几天|有空)(再)?(说|弄|办|填|来)(吧|啊|了)?$"
)
CANCEL_MESSAGE_MAX_CHARS = 30
# A progress query about one's own request fits in this many characters (longer ones tell a story).
STATUS_MESSAGE_MAX_CHARS = 40
# An application's own words, besides the 「公开」 that most questions here contain.
_APPLY_WORDS = re.compile(
    r"申请|申清|调取|调阅|查阅|(要|发|寄|给|提供).{0,14}(文件|信息|资料|材料|数据|记录|档案|预算|决算|报告|名单|批复|合同)"
)
# Words that ask for the action itself, per action intent.
_CUES = {
    APPLY: re.compile(
        r"申请|依申请|公开|调取|调阅|查阅|(要|发|寄|给|提供).{0,14}(文件|信息|资料|材料|数据|记录|档案|预算|决算|报告|名单|批复|合同)|"
        # 「想拿到你们局批的改造方案全文」
        r"(拿到|弄到|搞到|看到|复印)(你们|贵局)?.{0,16}(方案|文件|批复|批文|合同|报告)(的)?(全文|原文|原件|复印件)|"
        r"(文件|信息|资料|数据|记录|档案|预算|决算).{0,6}(发|寄|给)(我|给我)|"
        # 「给我整一份纸质的寄到人民路8号」: a copy asked for, to be sent to an address.
        r"(给我|帮我|替我)(整|弄|来|寄|复印|打印|抄)(一|1)?份|寄到.{1,12}(路|街|号|区|县|镇|村)"
    ),
    COMPLAIN: re.compile(
        r"投诉|举报|建议|意见|想法|反映|反馈|告状|告发|告(他|她|它)|检举|揭发|不满|曝光|吐槽|提个|说道说道|希望你们|改进|改善|"
        r"乱收费|不作为|态度(差|恶劣|不好)|刁难|管管|管一管|跑路|不退|欺骗|骗了|坑人|霸王条款|"
        # 「我要让你们去查它」「我要你们处理这家公司」: the agency asked to act against someone.
        r"(让|要|请|叫)你们(局|局里)?(去|来|赶紧|好好)?(查|处理|处罚|罚|整治|取缔|收拾|治)(一下|一查|一管)?(它|他|她|他们|这家|那家|这个|那个)"
    ),
    STATUS: re.compile(
        r"进度|进展|办到|到哪|到什么程度|(处理|办|弄|审)得?(咋样|怎么样|如何)了?|(办|处理|审|批|弄)(好|完)了?(没|吗|没有)|"
        r"结果(出来|出了)|(有|出)结果|回执|受理(号|了没|了吗|没)|答复(了没|了吗|没)|怎么样了|咋样了|啥样了|啥情况(?!下)|什么情况(?!下)|状态|"
        r"收到(了)?没|没(信|消息|动静|回音|下文|音讯)|走到哪|哪个环节|哪一步|催(一下|一催|催)?|准信|给不给|批(了)?没|"
        r"(查|问)(一下|下)?(我|我的|咱)(的)?(申请|投诉|件)|还没(回|答复|消息|动静)|有(消息|动静|回音)(了)?(吗|没)|"
        r"收到(了)?(吗|没)|(回执|受理|办件)(号|编号)|(批|审批|审核|审)(下来|通过)了?(吗|没)|[A-Za-z]{2}\s*\d{8,12}|"
        r"(看|查|处理|办|审|寄|采纳|通过|回复|收到|寄出来|签收|确认|登记)(了没|了吗|没)|有下文|能领|在谁手上|被拒|联系我|有人管|一点动静|(啥时候|什么时候|多会儿|几时|哪天)能(给我|到手|拿到|收到|寄到|下来)|能给我(个)?(答复|回复|结果|回信|消息|准信|说法)|追一下|"
        r"(办理|处理|进展|审核)情况|(有没有人|有人)(在)?(办|管|处理|查)|(提交|交|发送)成功(了)?(吗|没)|"
        r"(我|俺)(的|那个|上次|之前|前几天|上周|上个月|去年).{0,10}(申请|投诉|举报|建议|件).{0,10}"
        r"(怎么样|咋样|如何|进展|结果|消息|处理|受理|答复|回复|批|下来|到哪|办好|办完|了没|了吗)"
    ),
    HUMAN: re.compile(r"人工|真人|活人|客服|工作人员|人来|找人|找个人|领导|负责人|负责的人|值班|接线|坐席|专人|跟人(说|聊|讲)|懂行"),
}
# The person wants it done (now), as opposed to asking how it works.
_WANT = re.compile(
    r"我(要|想|得|需要|打算|准备|来)|帮我|给我|替我|麻烦(你|您)?|想要|要求|我们(要|想|公司要|单位要)|"
    r"(我|俺)?有(个|一个|些|几个|点)(建议|意见|投诉|想法)|提(个|点|些|几条|几点|一条|两条)(建议|意见)|想(提交|反映|提)|"
    r"(现在|马上|立刻|直接|在线|网上)(就)?(申请|投诉|举报|提|办|查)|(查|看)(查|看)?(一下|下)?(我|我的|俺)|"
    # 「想登记个投诉 那家店…」: chat drops the 我 at the start.
    r"^想(要|登记|提交|申请|投诉|举报|反映)"
)
# 「举报！门口收废品的乱堆」「建议你们热线多配点人手」「有个想法：…」: the message opens with what it is.
_OPENS_AS_COMPLAINT = re.compile(
    r"^(我|俺)?(要)?(投诉|举报)([!！:：\s,，]|一下|一个|一家|个|你们|他们|这|那)(?!(电话|热线|渠道|方式|邮箱))|"
    r"^(建议|希望)(你们|贵局|商务局|局里|政府)|^(我|俺)?有(个|一个|些|几个|点)(建议|意见|想法)"
)
# Interrogatives: it asks how, how long, how much, whether, where or who — about the process, not the request.
_HOW = re.compile(
    r"怎么|咋|如何|怎样|多久|多会儿|多咱|多长|几|多少|哪|什么|啥|谁|吗|么$|呢|(.)不\1|"
    r"能不能|可不可以|可以不|行不行|是否|要不要|需不需要|有没有|是不是|[?？]|[^要]不[?？。!！~\s]*$|没[?？]?$|"
    # 「是一个季度报一次还是一年一次」: a choice asked between two things (not 「我还是想投诉」).
    r"是.{1,12}还是"
)
# What each social intent sounds like; a longer or different message is a question after all.
_SOCIAL = {
    "greet": re.compile(r"你好|您好|你们好|您们好|^(hi|hello|hey|哈喽|嗨|喂|哈罗)|在吗|在不在|在线|有人吗|早上好|上午好|中午好|下午好|晚上好|^早|打扰|大家好", re.I),
    "thank": re.compile(r"谢|感谢|多谢|蟹蟹|3q|辛苦|thank|thx|帮了大忙|有帮助|太好了|给力|点赞", re.I),
    "goodbye": re.compile(r"再见|拜|^88|回见|下次|先这样|到这里|到这儿|走了|走啦|先走|下线|不聊了|没事了|告辞|改天|回头|bye", re.I),
    "affirm": re.compile(r"^(好|是|对|嗯|行|可以|没错|没毛病|确认|确实|ok|yes|同意|要|需要|当然|没问题|中|妥)", re.I),
    "deny": re.compile(r"^(不|没|否|错|别|算了|并没有|那不对|nah|no)", re.I),
    "bot_challenge": re.compile(r"机器|真人|人类|人工智能|ai|是人|自动回复|robot|背后有人", re.I),
    "ask_capabilities": re.compile(r"能(做|干|帮|办|提供)|会(做|干|些)|功能|能问|可以问|帮我什么|有什么用|怎么用|咋用|擅长|回答什么|服务", re.I),
    "confirm_request": re.compile(r"确认|提交|没问题|对的|就这样", re.I),
    "correct_request": re.compile(r"修改|改一下|写错|填错|错了|不对|改", re.I),
}
# Words of this domain: a message that has one is about the agency's business, not small talk.
_DOMAIN = re.compile(
    r"公开|申请|信息|政府|政务|商务|备案|审批|许可|登记|投诉|举报|办理|材料|条例|文件|政策|补贴|资金|企业|公司|窗口|"
    r"收费|费用|证|指南|电话|地址|传真|邮箱|时限|期限|复议|诉讼|答复|预付卡|拍卖|特许|典当|外贸|进出口|年报|统计|"
    r"合同|经营|执照|店|超市|商场|市场|进口|出口|展会|加盟|回收|二手车|汽车|酒|油|家政|美容|洗染|电商|老字号|步行街|"
    r"消费|零售|外资|外商|投资|境外|ODI|odi|劳务|技术|规定|法律|法规|办理|办事|上交|提交|申报|报送|报告"
)
SOCIAL_MAX = {"bot_challenge": 14, "ask_capabilities": 14}
# A greeting this short is one, whichever way the classifier leans (「在吗在吗」「你好在吗」).
SHORT_GREETING_CHARS = 6
# 「不补会咋样」「好 那要多久」: a yes or no that asks something is a question.
_ASKS_WHAT = re.compile(r"咋|怎么|怎样|如何|啥|什么|多久|多少|几|哪")
# 「那要是去的国家比较敏感呢」: a follow-up to the last answer, however far from the agency its words sound.
_LEANS_BACK = re.compile(r"^(那|那么|那要是|那如果|要是|如果)|呢[?？。!！~\s]*$")
_ASKS_BACK = re.compile(r"(呢|吗|么|行不|可以不|[?？])\W*$")
OUT_OF_SCOPE_CONFIDENT = 0.5


def is_social(text: str, intent: str) -> bool:
    """A short message that says what a social intent says, with no word of the agency's business."""
    pattern = _SOCIAL.get(intent)
    # 「确认提交」「修改电话」 answer the summary of a request: the agency's words belong there.
    if not pattern or _DOMAIN.search(text) and intent not in ("ask_capabilities", *REQUEST_STEP_INTENTS):
        return False
    if content_length(text) > SOCIAL_MAX.get(intent, SOCIAL_MAX_CHARS + 4):
        return False
    if intent in ("affirm", "deny") and (_ASKS_BACK.search(text) or _ASKS_WHAT.search(text)):
        return False  # 「不交呢」「不去行吗」 ask what happens then
    return bool(pattern.search(text))
# How things usually go, not where one's own request stands: 「申请一般多久有结果」.
_GENERAL = re.compile(r"一般|通常|正常|大概|平时|多久|多会儿|多咱|(?<!前)几天|多长时间|多少天")
# The person's own earlier request: 「我的申请」「我上周交的投诉」「俺那个件」.
_OWN_REQUEST = re.compile(
    r"(我|俺|我们)(的|那个|那件|上次|之前|前几天|上周|上个月|去年|刚才|昨天|.{0,6}(交|提交|递|寄|申请|投诉|举报)的)|"
    # 「上礼拜寄的申请信」「申请都交了半个月了」「申请已经提交了」: a submission already made, said without 我.
    r"(上礼拜|上星期|上周|上个?月|月初|前几天|前两天|前天|昨天|之前|早就|前两周|前几周|前段时间|前些日子|"
    r"[0-9一二两三四五六七八九十半]+(个)?(天|周|礼拜|星期|月)(以)?前)(.{0,4})(寄|交|递|提交|申请|投诉|举报|反映|提|传真|发)|"
    r"^(那个|那件|上回那个)(申请|投诉|举报|反映|建议)|"
    r"(寄|交|递|提交|申请|投诉|举报)(了|过)?(都)?(快|有)?[0-9一二两三四五六七八九十半]+(个)?(天|周|礼拜|星期|月)|"
    r"(已经|都|早)(提交|交|递|寄|申请)(了|过|上去)|"
    # 「上回那个事咋样了」「我周一来过 交了个申请」「我们单位上个月申请的」「我交上去的东西」
    r"(上回|上次|之前|前阵子|前些天|那天|周[一二三四五六日]|昨天|上个月)(那个|的|来过)?.{0,10}(事|申请|投诉|举报|材料|意见|建议|信|交)|"
    r"(我|俺|我们|咱)(单位|公司)?.{0,6}(申请公开|申请|投诉|举报|反映|提|交|填|写信|补|寄|登记|问)(的|了|过|上去|都)|"
    r"(我|俺)(的)?(申请|投诉|举报)(的)?那(个)?(事|件)|"
    # 「传真过去的申请」「申请编号我有」「那个答复书寄了没」: what only the person's own case has.
    r"(传真|寄|交|递)(过去|上去|出去)的.{0,3}(申请|材料|信)|(回执号|编号|申请号|受理号)(我)?有|(答复书|告知书|决定书)(寄|发|出)|"
    r"给你们写信|"
    # 「之前找你们要的那份决定书」「我这个件」「GK261123000111」
    r"(之前|上次|前几天|上回|前阵子|那回)(找|跟|向|问)你们(要|申请|反映|投诉|提)的|(我|俺)(这个|那个|的)件|[A-Za-z]{2}\s*\d{8,12}|"
    r"(申请|投诉|件|事)(到底|究竟)(批|办|处理|回|答复|审)(没|了没|完没)"
)
_TRACKING_NUMBER = re.compile(r"[A-Za-z]{2}\s*\d{8,12}")
# Asking for where or how to reach the agency (「网上申请的网址发我下」) is asking, not filing.
_CONTACT_NAMES = "网址|网站|链接|入口|电话|传真|邮箱|地址|邮编|二维码"
_CONTACT_WORDS = re.compile(_CONTACT_NAMES)
# …and asking for one of them outright (「网址发我下」「电话多少」), in a message that gives no number of
# the person's own (「我电话是138…」 fills a request in).
_ASKS_FOR_CONTACT = re.compile(rf"(?<![打拨来])({_CONTACT_NAMES})(号码?)?(是|呢|多少|几|发|给|告诉|说|在哪|哪|啥|什么)")
_DIGITS = re.compile(r"[0-9０-９]{3}")
# 「我想问问投诉要多久」「先问下要不要钱」: the person says they are asking, not filing.
_ASKS_ABOUT = re.compile(r"问|了解|咨询|知道|请教|打听")
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
SOCIAL_MAX_CHARS = 8
# Below this the classifier's vote for an action counts for nothing on its own.
ACTION_CONFIDENT = 0.6
# Sure enough to offer the action (one clarifying turn) although no word asks for it.
ACTION_SURE = 0.8
ACTION_CERTAIN = 0.95
# Someone telling something (a person, or a particle of speech): a bare name or title (「拍卖企业设立审批」
# 「外贸专项资金项目申报的通知」) is a topic to look up, however sure the classifier is.
_SPOKEN = re.compile(r"我|俺|咱|你们|您|他们|她|他|它|人家|大伙|吧|呗|啊|呀|了|呢|嘛")
# 「我想开个拍卖行」「打算办个加盟店」: a business the person means to start, which a service item covers.
_STARTS_A_BUSINESS = re.compile(r"(想|要|打算|准备|计划)(开|办|做|搞|注册|设立|成立|干)(个|一个|一家|家|间)?")


@dataclass(frozen=True)
class Route:
    """The intent Rasa acts on, and why (kept in the parse data for analytics and debugging)."""

    intent: str
    reason: str
    # For a doubtful request: which action to offer in the clarification.
    offer: str | None = None


def content_length(text: str) -> int:
    """Characters that carry content: punctuation, spaces and emoji left out."""
    return len(_PUNCT.sub("", text))


def asks_whether_staff_help(text: str) -> bool:
    """「让工作人员帮我填申请表可以吗」 asks about a service, unless it also calls for a person."""
    return bool(_STAFF_HELP_ASKED.search(text)) and not _CALLED_FOR.search(text)


def asks_for_human(text: str) -> bool:
    text = normalize(text)
    if _HUMAN.search(text) or _SUMMONS.search(text):
        if asks_whether_staff_help(text):
            return False
        # 「人工客服几点上班」「人工服务只有工作日吗」 ask about the service, not for it.
        return not (_ABOUT_THE_SERVICE.search(text) and not _SUMMONS.search(text))
    return False


def asks_for_contact(text: str) -> bool:
    """「网上申请公开的网址发我下」「投诉电话多少」: the agency's address, number or site is asked for."""
    text = normalize(text)
    return bool(_ASKS_FOR_CONTACT.search(text)) and not _DIGITS.search(text)


# A request that names itself: 「申请公开：…」「举报二手车市场卖事故车」「建议：大厅加个饮水机」. The clause
# holding the request word must not ask anything (「申请公开要多久」); when another clause asks
# something, the person is asked which they mean.
_NAMED = (
    (APPLY, re.compile(
        r"(依申请公开|申请(政府)?信息公开|申[请清情亲](一下)?公开|公开申[请清情亲]|信息公开申请|走(个|一下)?申请(程序)?)"
        # 「依申请公开的办理流程」「申请公开要多久」 are about the procedure
        r"(?!(的|要|需|得|后|以后|时|是|有|能|可以|一般|流程|程序|条件|材料|期限|费用|怎么|咋|如何))"
    )),
    (COMPLAIN, re.compile(
        r"(投诉|举报|头诉|检举)(?!(电话|热线|渠道|方式|邮箱|是|要|需要|的|了|过|啥|什么|怎么|咋|后|以后|一般))|(要|想|得)告(他|她|它|那|这|一)"
    )),
    # A suggestion starts the same form, which then asks 投诉还是建议 (the form's complaint_type).
    (COMPLAIN, _SUGGESTION := re.compile(
        r"^(我|俺|咱|我们)?(想)?((给|向|跟|对)(你们|贵局)(局|局里)?)?(建议|提议|提(个|点|几条)?(小)?(改进)?(建议|意见|看法|想法|点子)|有(个|几点|几条|点)(小)?(建议|意见|想法|点子|主意))|"
        r"(出个主意|说说我的看法|我(提这个|有几点|有个)?建议|我有(个|几点|一些)(想法|意见))|"
        # 「我要把这个意见正式提给你们」
        r"(把|将)(这个|这条|这些|这几条|我的)?(意见|建议|想法)[^，,。？?]{0,6}(提|反映|交|转|递)(给|到|上去)"
    )),
    # 「把你们局2024年培训费支出明细给我整一份」: a document asked for without the word 申请.
    (APPLY, re.compile(
        r"(要|给我|帮我|麻烦|把|想把).{0,30}(一份|调一下|整一份|搞一份|发我|寄我|发一下|寄给我|给我发|给我寄)"
        r"|(一份|调一下).{0,24}(名单|明细|清单|文件|通报|制度|标准|结果|数据|记录|报告|批复|决定|汇总|预算|决算)"
        # 「…的明细，电子版发我邮箱就行」「我要你们对预付卡企业的检查结果」
        r"|^(电子版|纸质版|复印件|扫描件)?(就)?(发|寄)(到)?(我|给我)(的)?(邮箱|手机|微信|家里?)(就行|就好|就可以|吧)?$"
        r"|^(我|俺|我们)?(要|想要|需要)((你们|贵局|你们局)(的)?|.{0,6}[0-9]{4}年).{1,24}(名单|明细|清单|文件|通报|制度|结果|数据|记录|报告|批复|决定|汇总|预算|决算)$"
    )),
)
BARE_REQUEST_CHARS = 4
# 「我想问问…」「先了解一下」: the person says they are asking (not 咨询电话, a thing).
_SAYS_ASKING = re.compile(
    r"问问|问一下|问下|请问|想问|咨询一下|了解一下|了解下|想了解|想知道|打听|请教|"
    r"(托|让|叫)我问|(帮|替|代)(我|他|她|人|家里|朋友)?问|"  # 「朋友托我问：…」 relays a question
    r"告诉我|给我(说说|讲讲|介绍)|介绍一下"  # 「…说了啥，麻烦告诉我」 asks to be told
)
_DOCUMENT_WORDS = re.compile(r"名单|明细|清单|文件|通报|制度|标准|材料|结果|数据|记录|报告|批复|决定|汇总|预算|决算|经费|支出")
# A clause that asks rather than files: interrogatives, and 「一般」「还是」「的话」 (how it usually goes, which way, if).
_ASKS_IN_CLAUSE = re.compile(r"一般|还是|的话|吧$|免费|收费|算不算")
# What a suggestion says is often worded as a question (「窗口叫号能不能改成手机取号」): only asking how
# suggestions are made or what becomes of them makes a suggestion message a question.
_ASKS_ABOUT_SUGGESTING = re.compile(
    r"(怎么|如何|咋|在哪|哪里|哪儿|去哪)(提|给|反映|交)|给谁|找谁|向谁|渠道|途径|有用吗|有没有用|管用吗|区别|会回复|回复吗|有人看吗|多久|接受.{0,4}吗|"
    r"^(建议|是否建议).{0,14}[吗么][?？]?$"  # 「建议先打电话问问吗」 asks for advice
)
# 「你们管不管」「查不查」 after a grievance: a complaint said as a question, so it is offered, not started.
_GRIEVANCE_ASK = re.compile(r"(管不管|查不查|管一管|管管|有人管吗|能管吗|不管吗|查一查|处理不处理)")
# 「……有人管吗，会被追责吗」 asks what the rules say happens (the regulation's accountability articles).
_ASKS_CONSEQUENCE = re.compile(r"追责|问责|追究|处分|什么后果|啥后果|担责|法律责任")


# After a named request, 「怎么弄」「咋办」 asks how to go about it: the person may want it done now or not.
_HOW_TO_DO_IT = re.compile(r"^(那)?(该|要|得|应该)?(怎么|咋|如何)(弄|办|搞|整|操作|提交|申请|投诉|举报|做)(呢|啊|呀)?[?？]*$")
# 「几十家」「几百块」 count, they do not ask.
_NOT_ASKING_HOW_MANY = re.compile(r"几(?=[十百千万])|(?<=[十好前这那])几")


# A grievance told as a story (「店关了老板还把我拉黑了」) and then 「给我登记一下」「我要讨个说法」: a complaint
# to register; without the story 「帮我登记」 may be a 备案 and the words decide nothing.
_GRIEVANCE_STORY = re.compile(
    r"跑路|跑了|关门|关了|倒闭|拉黑|不退|退不了|不给退|骗|坑|卷钱|联系不上|人去楼空|霸王|乱收|不合规|违规|假货|过期|店名|这家店|那家店|商家|老板"
)
_REGISTER_GRIEVANCE = re.compile(
    r"(帮我|给我|替我|来你们这儿?|在你这儿?|在你们这儿?|你们给)(帮我)?(登记|记录|立案|备个案|记一下)|讨(个)?说法|讨回公道|要个说法|给个说法"
)


SUGGESTION_NAMED, CHANGE_WISHED = "suggestion named", "change wished for"
# Reasons that make a started complaint form a suggestion (a referral never takes them over).
SUGGESTION_REASONS = frozenset({SUGGESTION_NAMED, CHANGE_WISHED})
# What the agency runs for the public, which a suggestion asks to change (「公众号的字调大点呗」).
_SERVICE_ELEMENT = re.compile(
    r"网站|网页|首页|主页|栏目|入口|页面|公众号|小程序|APP|app|手机上|窗口|大厅|服务中心|等候区|座位|椅子|指示牌|指引|标识|"
    r"叫号|排队|热线|电话|线路|人手|字体|字|申请表|表格|模板|指南|答复书|告知书|手续|上班时间|工作时间|午休|周末|停车|饮水机|打印|"
    r"平台|系统|查询|展销会|展会|活动|培训|宣传|讲座"
)
# Wanting something changed, said as a wish or a mild imperative rather than asked.
_WISHED_CHANGE = re.compile(
    r"(要是|如果|若|假如)(能|可以|有).{1,30}(就好了|就方便(多)?了|就好|多好|更好|就行了)|(就好了|就方便多了|就方便了|就更好了|多好)$|"
    r"(应该|该|得|最好|希望|盼着?|巴望)(你们|贵局|局里|商务局)?(能|可以)?(多|加|增|再|改|调|弄|放|开|安排|延长|提前|有人|配|换|挪|简化|优化|考虑|搞|办|出)|"
    r"(多|加|增|再|改|调|弄|放|开|安排|配|延长|提前|适配|优化|简化|换|挪|设|摆)[^，,。]{0,12}(吧|呗|啊|哈)$|"
    r"(弄|调|做|改|放|写)(得)?(大|小|显眼|明显|清楚|简单|醒目)(一)?(点|些)|往(大|小)(调|弄|改)|调调|改改|"
    r"(改进|改善|优化|适配|调整|完善)(一下|改进)?|考虑|琢磨琢磨|提个醒|反馈给你们|给你们提|(有|提)(几句话|几点|点)(想)?(说|讲)"
)
# A wish said as one: 「要是能…就更好了」「希望你们…」「你们琢磨琢磨」.
_OUTRIGHT_WISH = re.compile(
    r"(要是|如果|若|假如)(能|可以|有).{1,30}(就好了|就方便(多)?了|就好|多好|更好|就行了)|(就好了|就方便多了|就方便了|就更好了|多好)$|"
    r"(希望|盼着?|巴望)(你们|贵局|局里|商务局)|琢磨琢磨|考虑考虑|提个醒"
)
# A clause that asks outright (a question mark, 吗/么/呢, or an interrogative word).
_ASKS_OUTRIGHT = re.compile(r"[?？]|[吗么呢]$|(能|可以|会|行)不(能|可以|会|行)|怎么|咋|如何|哪|什么|啥|多久|多少|是不是|有没有")
# The agency asked to act on a grievance: 「你们给个说法」「你们来人查查」「罚它」「麻烦商务局出面」.
_ACT_ON_IT = re.compile(
    r"给(我|俺|我们)?(个)?说法|讨(个)?说法|来人(查|看)|(查|管)(一)?\1|查一查|查处|出面|(处理|整治|查)一下|"
    r"罚(它|他|她|他们|这家|那家|一下)|登(个)?记(吧|一下)?|做主|(主持|讨(个|回)?)公道|要个答复|给(我|俺)个答复|"
    r"(必须|得|要|该)有人(担责|负责|管)|(该|应该|得|必须)(吊销|查封|取缔|关了|罚|处理|查|严肃处理)|严肃处理|"
    r"(帮|替)(我|我们|俺|俺们)(把钱)?(要|讨|追)回|把钱要回来|不能不管"
)
# What went wrong, in the words people tell it with.
_GRIEVANCE_TOLD = re.compile(
    r"跑路|跑了|关门|倒闭|拉黑|不退|退不了|不给退|骗|坑|卷钱|联系不上|找不着人|人没了|人去楼空|霸王|乱收|违规|没备案|假货|事故车|"
    r"调表|改掉|改了|不认|挂(我)?电话|态度|刁难|扰民|吵|脏|过期|黑心|欺负|推诿|不管|作废|说好的|概不负责|耍赖|不认账|"
    r"白跑|害(我|得)|损失|没(人)?回|不回|没人接|不理|拖(了|着)"
)
# A record of the agency's, asked for by what it is (「会议纪要」「处罚决定书」「分配结果」).
_AGENCY_RECORD = re.compile(
    r"纪要|会议记录|决定书|处罚决定|结论|意见书|批复|批文|请示|审批材料|审批文件|分配结果|名单|明细|清单|决算|预算|三公经费|"
    r"台账|合同|协议|报告|文件|记录|档案|数据|通报|方案全文|原件|检查结果|核查结果|(打分|评分|统计|汇总|一览|花名)表|"
    r"(交给|报给|提交给|报送给)(你们|贵局)的(材料|资料)"
)
# …and asked to be handed over (「抄一份给我」「给俺整一份」「帮我调份文件」「我要你们局里…的纪要」).
_HAND_IT_OVER = re.compile(
    r"(要|调|抄|复印|整|拿|弄|搞)(一)?份|给(我|俺|俺们|我们)\S{0,6}(一份|整|抄|复印|发|寄)|(发|寄|抄|复印)(一份)?(给)?(我|俺)(?!们?的)|"
    r"(调|找|翻)出来|提供(一份|一下)|"
    r"(^|\s|我|俺|们|人|司|务)(要|需要|想要)(你们|贵局|商务局)(局|局里)?(对|的|关于|那|研究|批|今年|去年|20)|走(依法)?(公开|正式|申请)(的)?(那套|那个)?(流程|程序)|按(正式)?(程序|流程)给(我|俺)"
)
_PUT_POLITELY = re.compile(r"考虑|琢磨|改进|(中不中|行不行|好不好|成不成|行吗|好吗|可以吗|行不)[?？]*$")
# 「能给俺复印一份不」: asked politely, as a question.
_POLITE_RECORD = re.compile(r"(能|可以|能否|可否|麻烦)(给|帮|替)(我|俺)")


# 「你们这办事也太不像话了」「这叫为人民服务？」: anger at the agency itself, a complaint not yet asked for.
_OUTRAGE = re.compile(
    r"(太|真|也太|实在|简直)(不像话|过分|差劲|离谱|气人|欺负人|敷衍)|像话吗|什么态度|(这叫|还叫|算什么)(为人民服务|服务)|岂有此理|欺人太甚"
)
_AT_THE_AGENCY = re.compile(r"你们|贵局|商务局|局里|窗口|工作人员|办事的")


def _suggests_change(clauses: list[str]) -> bool:
    """「等候区就那么几把椅子 多放点座位吧」: a wished change to what the agency runs, not a question.

    What is to change is either something the agency runs for the public or said to the agency
    itself (「…要是能看到服务评价就更好了 你们琢磨琢磨」)."""
    text = "".join(clauses)
    if _SAYS_ASKING.search(text):
        return False
    wished = [c for c in clauses if _WISHED_CHANGE.search(c)]
    # Said to the agency without naming what it runs, only an outright wish counts (「希望你们弄一下」,
    # 「…就更好了 你们琢磨琢磨」), not an imperative that questions share (「…直接申请公开吧」).
    if not _SERVICE_ELEMENT.search(text) and not (
        any(_AT_THE_AGENCY.search(c) for c in wished) and _OUTRIGHT_WISH.search(text)
    ):
        return False
    # 「能不能考虑周六开半天」「往大调调中不中」: a suggestion politely put as a question.
    return bool(wished) and not any(_ASKS_OUTRIGHT.search(c) and not _PUT_POLITELY.search(c) for c in wished)


def _demands_action(clauses: list[str]) -> bool:
    """A grievance told, then the agency asked to act on it (not asked whether it would)."""
    text = "".join(clauses)
    if _SAYS_ASKING.search(text) or not _GRIEVANCE_TOLD.search(text):
        return False
    # 「这种作风不处理一下？我要个答复」: the part after a rhetorical question is what they want.
    parts = [p for c in clauses for p in re.split(r"(?<=[?？])", c) if p]
    return any(_ACT_ON_IT.search(p) and not _ASKS_OUTRIGHT.search(p) for p in parts)


def _asks_for_record(text: str) -> bool:
    """「结论 抄一份给我」「能给俺复印一份不」: one of the agency's records, asked to be handed over."""
    if _SAYS_ASKING.search(text) or not _AGENCY_RECORD.search(text) or not _HAND_IT_OVER.search(text):
        return False
    # 「要交一份什么材料」 asks what to bring, 「…的话 得怎么弄」 how it would go.
    if _DELIBERATES.search(text) or re.search(r"怎么|咋|如何|哪些|什么|啥|多久|多少|要不要|需不需要|是不是|交(一份|哪|几)", text):
        return False
    # What is said besides the record and the asking for it (「俺倒要看看钱都花哪了」) may ask rhetorically;
    # a polite 「能给俺复印一份不」 still asks for the record.
    held = " ".join(c for c in _CLAUSE_BREAK.split(text) if _AGENCY_RECORD.search(c) or _HAND_IT_OVER.search(c))
    return not _ASKS_OUTRIGHT.search(held) or bool(_POLITE_RECORD.search(held) or _POLITE_ASK.search(held))


def named_request(text: str) -> Route | None:
    """A request the message names in words of its own (see _NAMED), or None."""
    clauses = [c for c in _CLAUSE_BREAK.split(text) if c]
    if _REGISTER_GRIEVANCE.search(text) and _GRIEVANCE_STORY.search(text) and not _SAYS_ASKING.search(text):
        last = _without_greeting(clauses[-1]) if clauses else ""
        if not is_question(last) or _REGISTER_GRIEVANCE.search(last):
            return Route(COMPLAIN, "grievance to register")
    if _demands_action(clauses):
        return Route(COMPLAIN, "grievance and action asked for")
    if _suggests_change(clauses):
        return Route(COMPLAIN, CHANGE_WISHED)
    if _asks_for_record(text):
        return Route(APPLY, "record asked for")
    if _OUTRAGE.search(text) and _AT_THE_AGENCY.search(text) and not _SAYS_ASKING.search(text):
        return Route(FALLBACK, "anger at the agency", offer=COMPLAIN)
    for action, pattern in _NAMED:
        holder = next((c for c in clauses if pattern.search(_without_greeting(c))), None)
        if pattern is _SUGGESTION:
            if holder is None or _ASKS_ABOUT_SUGGESTING.search(text):
                continue
            if content_length(_without_greeting(text)) <= BARE_REQUEST_CHARS:
                return None  # a bare 「建议」: the classifier decides
            return Route(action, SUGGESTION_NAMED)
        if holder is None or _clause_asks(_without_greeting(holder)):
            continue
        if action == APPLY and "申" not in text and not _DOCUMENT_WORDS.search(text):
            continue  # 「给我发一下」 alone asks for a document only when it names one
        if content_length(_without_greeting(text)) <= BARE_REQUEST_CHARS:
            return None  # a bare 「投诉」 may be a question about complaints: the classifier decides
        # 「该找谁」 after the request weighs where to go; 「找谁都不管」 before it is the story.
        if _SAYS_ASKING.search(text) or _DELIBERATES.search(" ".join([holder, *clauses[clauses.index(holder) + 1:]])):
            return None
        later = clauses[clauses.index(holder) + 1:]
        if any(_HOW_TO_DO_IT.search(c) for c in later):
            return Route(FALLBACK, "request and how to do it", offer=action)  # 「我想投诉…，怎么弄」
        if any(_clause_asks(_NOT_ASKING_HOW_MANY.sub("", c)) for c in later):
            return None  # 「我要申请公开，大概多久能答复」 asks how it goes: the rest of the routing decides
        if any(_clause_asks(c) for c in clauses if c is not holder) and not wants_action(holder):
            return None
        # 「…不是说限塑了吗 我要举报这家超市」: a story's rhetorical question, then what they want done.
        return Route(action, "request named")
    if _GRIEVANCE_ASK.search(text) and content_length(text) >= 10 and not _ASKS_CONSEQUENCE.search(text):
        return Route(FALLBACK, "grievance asked about", offer=COMPLAIN)
    return None


def _clause_asks(clause: str) -> bool:
    return is_question(clause) or bool(_ASKS_IN_CLAUSE.search(clause))


def _without_greeting(text: str) -> str:
    return re.sub(r"^(你好|您好|喂|诶|哎|嘛|那个)+", "", text)


def wants_to_cancel(text: str) -> bool:
    text = normalize(text)
    if content_length(text) <= 14 and _CANCEL.search(text):
        return True
    if content_length(text) > CANCEL_MESSAGE_MAX_CHARS:
        return False
    clauses = [c for c in _CLAUSE_BREAK.split(text) if c]
    leaving = [c for c in clauses if _CANCEL_CLAUSE.search(c)]
    return bool(leaving) and not any(is_question(c) for c in clauses if c not in leaving)  # 「没啥了不说了」 asks nothing


def _without_leaving(text: str) -> str:
    """The message without the words that leave (「算了 我直接再申请一个」 → 「我直接再申请一个」)."""
    text = _CANCEL.sub(" ", text) if _CANCEL.search(text) else text
    return " ".join(c for c in _CLAUSE_BREAK.split(text) if c and not _CANCEL_CLAUSE.search(c)).strip()


def is_question(text: str) -> bool:
    """A question about something (how, how long, where, whether …), as opposed to a bare answer."""
    return bool(_HOW.search(_NOT_ASKING_HOW_MANY.sub("", normalize(text))))


def action_cue(intent: str, text: str) -> bool:
    pattern = _CUES.get(intent)
    return bool(pattern and pattern.search(normalize(text)))


def wants_action(text: str) -> bool:
    return bool(_WANT.search(normalize(text)))


def route(text: str, intent: str, confidence: float, ranking: list[dict] | None = None) -> Route:
    """The intent to act on for a typed message (button payloads never come here).

    `intent`/`confidence` are the classifier's (after Rasa's FallbackClassifier, so `intent` may be
    nlu_fallback); `ranking` is its intent ranking, best first.
    """
    text = normalize(text)
    ranking = ranking or []
    if not text:
        return Route(intent, "empty")
    if asks_for_human(text):
        return Route(HUMAN, "asks for a person")
    if asks_for_contact(text):
        return Route(KNOWLEDGE, "asks where to reach the agency")
    # 「不查了，我要申请政府信息公开」: a clear new request wins over the words that leave the old one;
    # what is left once the words that leave are taken out says which.
    if wants_to_cancel(text):
        rest = _without_leaving(text)
        named = named_request(rest) if rest else None
        new = _explicit_request(rest) if rest else None
        if new or (named is not None and named.intent in ACTION_INTENTS):
            return Route(new or named.intent, "new request")
        # 「算了 我直接再申请一个政府信息公开」: what is left asks for one action, plainly.
        cued = [a for a in ACTION_INTENTS if action_cue(a, rest)] if rest and not is_question(rest) else []
        if len(cued) == 1 and content_length(rest) >= BARE_REQUEST_CHARS:
            return Route(cued[0], "new request")
        return Route(CANCEL, "cancel words")
    if asks_whether_staff_help(text):
        return Route(KNOWLEDGE, "asks whether staff will help")
    explicit = _explicit_request(text)
    if explicit == APPLY and _suggests_change([c for c in _CLAUSE_BREAK.split(text) if c]):
        explicit = None  # 「你们网上申请入口藏得太深了 挪到首页去吧」 is about the entrance, not an application
    if explicit:
        return Route(explicit, "request words")
    if (named := named_request(text)) is not None:
        return named
    top = intent
    if intent == FALLBACK:
        top = next((r.get("name") for r in ranking if r.get("name") != FALLBACK), KNOWLEDGE) or KNOWLEDGE
        confidence = next((r.get("confidence", 0.0) for r in ranking if r.get("name") == top), 0.0)
    if top in STARTING_INTENTS:
        return _action_route(text, top, confidence)
    # The classifier may not name an action although the words clearly do (「我要投诉」 said oddly).
    if top == CANCEL:
        # 「截止到几号」 asks something: a short question is no way of stopping a form.
        return Route(CANCEL if content_length(text) <= 6 and not is_question(text) else KNOWLEDGE, "cancel by classifier")
    if top in SOCIAL_INTENTS or top in REQUEST_STEP_INTENTS:
        if is_social(text, top):
            return Route(top, "short social message")
        return Route(KNOWLEDGE, "not a social message")
    if top == OUT_OF_SCOPE and confidence >= OUT_OF_SCOPE_CONFIDENT and not _DOMAIN.search(text) and not _LEANS_BACK.search(text):
        return Route(OUT_OF_SCOPE, "chit-chat outside the agency's business")
    if top == KNOWLEDGE and content_length(text) <= SHORT_GREETING_CHARS and is_social(text, "greet"):
        return Route("greet", "short greeting")  # 「在吗在吗」: 吗 makes it look like a question
    # Questions, out-of-scope matters (the answer action refers them elsewhere) and anything unsure.
    return Route(KNOWLEDGE, "question" if top == KNOWLEDGE else f"{top} treated as a question")


# 「行 我现在就申请…」「好的，我要投诉」: a reply to the last turn, before what the message asks.
_ACKNOWLEDGEMENT = re.compile(r"^(行|好|好的|好吧|嗯+|那行|那好|可以|ok|OK|得|中|成)[\s,，。.!！~]+")


def _explicit_request(text: str) -> str | None:
    """「我要投诉」「帮我查下我的申请」: words that ask for one action, in a message that is not a question."""
    text = _ACKNOWLEDGEMENT.sub("", text)
    if _OPENS_AS_COMPLAINT.search(text) and not is_question(_head(text)):
        return COMPLAIN
    text = _head(text)
    general = _GENERAL.search(text) and not _TRACKING_NUMBER.search(text)  # 「GK… 我这个件还得等多久」 is their own
    if action_cue(STATUS, text) and _OWN_REQUEST.search(text) and not general and content_length(text) <= STATUS_MESSAGE_MAX_CHARS:
        return STATUS  # 「我上周交的申请有结果了吗」: their own request's progress
    if content_length(text) > 24:
        # 「帮我弄个信息公开申请 我想要咱市商业网点规划那份文件」: the first clause says what it is,
        # unless the rest asks something (「我要投诉 该找谁」).
        first, rest = _first_clause(text)
        if not rest or is_question(rest) or content_length(first) < 4 or content_length(first) > 24:
            return None
        text = first
    if not wants_action(text):
        return None
    actions = [action for action in ACTION_INTENTS if action_cue(action, text)]
    if STATUS in actions and not _GENERAL.search(text):
        return STATUS  # 「帮我查下进度」
    if is_question(text) or _SAYS_ASKING.search(text):
        return None  # 「麻烦问一下批量申请信息公开」 says it asks: the classifier and the checks below decide
    return actions[0] if len(actions) == 1 else None


def _head(text: str) -> str:
    """「我有个建议：网办能不能加短信提醒」: what precedes a colon says what the message is."""
    match = re.search(r"[:：]", text)
    if match and content_length(text[: match.start()]) >= 2:
        return text[: match.start()]
    return text


_CLAUSE_BREAK = re.compile(r"[\s,，。!！;；]+")


def _first_clause(text: str) -> tuple[str, str]:
    """The message's first clause and the rest (「帮我弄个申请 我想要那份文件」)."""
    text = text.strip()
    match = _CLAUSE_BREAK.search(text)
    return (text[: match.start()], text[match.end():]) if match else (text, "")


# 「我要是想投诉…该向谁投诉」「我要举报 用信息公开申请的方式行不行」: weighing a way or asking whom,
# not filing yet.
_DELIBERATES = re.compile(
    r"要是|如果|假如|万一|的话|(找|向|跟|对)谁|哪个部门|哪个单位|"
    r"(用|通过|以|走).{0,12}(方式|办法|渠道|途径|形式|程序).{0,4}(行不行|可不可以|能不能|可以吗|行吗|可以不|成不)"
)
# 「能不能把你们去年的预算发我一份」: a polite request, worded as a question.
_POLITE_ASK = re.compile(r"(能不能|可不可以|能否|可否|麻烦|请)(你们|您|贵局)?(把|帮我|给我|发我|寄给我|提供)")


# 「怎么查申请进度」「查进度需要啥信息」: how checking works, asked by someone without a case in mind.
_HOW_TO_CHECK = re.compile(r"怎么查|咋查|如何查|在哪(看|查)|哪里(看|查)|需要啥|需要什么|还能查|能不能查|可以查")


# 「我得拿到那个备案回执当证据」: one of the agency's records the person needs in hand (a question about
# what to bring, 「要带什么材料」, asks instead).
_NEEDS_RECORD = re.compile(
    r"(拿到|要到|弄到|搞到|得到|调出|调取|拿|要|看看|看一下|复印|需要)(你们|贵局)?(的|那个|那份|这个|这份|一份|份)?.{0,12}"
    r"(回执|证明|凭证|档案|记录|名单|文件|结论|决定书|批复|批文|合同|报告|数据|明细|台账|纪要|原件)"
)


def _needs_record(text: str) -> bool:
    """A clause says the person needs one of the agency's records, and neither it nor a later one asks."""
    if _SAYS_ASKING.search(text):
        return False
    clauses = [c for c in _CLAUSE_BREAK.split(text) if c]
    holder = next((i for i, c in enumerate(clauses) if _NEEDS_RECORD.search(c)), None)
    return holder is not None and not any(_clause_asks(c) for c in clauses[holder:])


def _action_route(text: str, action: str, confidence: float) -> Route:
    text = _head(text)
    cue, want = action_cue(action, text), wants_action(text)
    how = is_question(text) or bool(_CONTACT_WORDS.search(text) or _SAYS_ASKING.search(text))
    if action == APPLY and cue and _POLITE_ASK.search(text) and not _ASKS_ABOUT.search(text):
        want, how = True, False
    if not cue:
        # 「中午好」「大家好」: a short social phrase is that, whatever the classifier makes of it.
        social = next((intent for intent in ("greet", "thank", "goodbye") if is_social(text, intent)), None)
        if social:
            return Route(social, "short social message")
        if action == APPLY and confidence >= ACTION_SURE and _needs_record(text):
            return Route(FALLBACK, "record needed", offer=APPLY)
        # The classifier is sure, the words say nothing either way: ask rather than guess. Words of the
        # agency's business without a request's words (「我想开个拍卖行」) are a question about it.
        if confidence >= ACTION_SURE and not how and action != STATUS and not _DOMAIN.search(text):
            return Route(FALLBACK, f"{action} by the classifier alone", offer=action)
        # A request told in the words of a story (「…你们给登个记吧」) has the agency's words but none that
        # name the request: offered when the classifier is all but certain and nothing is asked.
        asks = how or any(is_question(c) for c in _CLAUSE_BREAK.split(text) if c)  # 「有公众号没 想关注一下」
        if (
            confidence >= ACTION_CERTAIN and not asks and action != STATUS and _SPOKEN.search(text)
            and not _STARTS_A_BUSINESS.search(text)
        ):
            return Route(FALLBACK, f"{action} by a certain classifier", offer=action)
        return Route(KNOWLEDGE, f"{action} without request words")
    if action == STATUS:
        if how and not _OWN_REQUEST.search(text) and _HOW_TO_CHECK.search(text):
            return Route(KNOWLEDGE, "asks how to check progress")  # 「没有回执号还能查进度吗」
        if how and not _OWN_REQUEST.search(text) and _GENERAL.search(text):
            return Route(KNOWLEDGE, "asks how long it usually takes")  # 「备案信息几天能出结果」
        # 「我的申请办到哪了」 is a question by its nature; the words themselves ask for the status.
        if want or confidence >= ACTION_CONFIDENT:
            return Route(STATUS, "asks for the progress of a request")
        return Route(FALLBACK, "doubtful status query", offer=STATUS)
    if want and not how:
        return Route(action, "request words")
    if how and not want:
        return Route(KNOWLEDGE, "asks how the request works")
    if want and how:
        # 「我想投诉，怎么弄」 wants it done; 「我想问问投诉要多久」 asks about it.
        if _ASKS_ABOUT.search(text) or _DELIBERATES.search(text) or _SAYS_ASKING.search(text):
            return Route(KNOWLEDGE, "asks about the request")
        return Route(FALLBACK, "request and question", offer=action)
    # Neither: 「投诉」「举报一家店卖假货」 — a request if the classifier is sure, else ask. 「公开」 alone is
    # in most questions of this domain (「…政务公开工作要点的全文」 names a published document).
    if action == APPLY and not _APPLY_WORDS.search(text):
        return Route(KNOWLEDGE, "公开 without a request's words")
    if confidence >= ACTION_CONFIDENT:
        return Route(action, "confident request")
    return Route(FALLBACK, "doubtful request", offer=action)


# Slots whose answers are free text: a question there may be the answer (「你们去年的预算是多少」 as
# the description of the information wanted), so only a short, plain question is taken as one.
FREE_TEXT_SLOTS = frozenset({"complaint_matter", "complaint_target", "postal_address"})
NEVER_A_QUESTION_SLOTS = frozenset({"info_description"})
FREE_TEXT_QUESTION_MAX_CHARS = 20
# Slots that take a number: words without one, other than 「没有回执号」, are a question.
NUMBER_SLOTS = frozenset({"tracking_number", "phone_last4"})
_DIGIT = re.compile(r"[0-9０-９]")


def is_question_during_form(text: str, intent: str | None, slot: str | None) -> bool:
    """A message typed while a form waits for `slot` that asks something instead of answering."""
    if not slot or slot in NEVER_A_QUESTION_SLOTS or intent != KNOWLEDGE:
        return False
    text = normalize_query(text)  # 繁體字 too
    if slot in NUMBER_SLOTS:
        # 「依申请公开的流程」 typed (or a topic button pressed) while a number is asked for is no number.
        return not _DIGIT.search(text) and not has_no_tracking_number(text) and content_length(text) >= 4
    if not text or text.startswith("/") or not is_question(text):
        return False
    return slot not in FREE_TEXT_SLOTS or content_length(text) <= FREE_TEXT_QUESTION_MAX_CHARS


_NO_NUMBER = re.compile(r"没有|没存|找不到|找不着|忘了|忘记|丢了|弄丢|不记得|不知道|记不清|没收到")


def has_no_tracking_number(text: str) -> bool:
    """「回执号找不到了」「没有回执单」: the person cannot give the number the status form asks for."""
    return bool(_NO_NUMBER.search(normalize(text)))
