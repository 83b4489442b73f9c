"""Answers quote their passage and cite it; weak matches get an honest not-found."""

import numpy as np

from bot.knowledge.answering import NOT_FOUND_TEXT, TENTATIVE_LEAD, cited_hit, citation, compose_answer, select_sentences
from bot.knowledge.chunking import Passage
from bot.knowledge.retriever import Hit
from bot.text import display, normalize, split_sentences


def _passage(text: str, **kw) -> Passage:
    fields = dict(
        doc_id="d", title="2020年上海市商务委员会政务公开工作要点", issuer="上海市商务委员会",
        date="2020-04-19", doc_number="", section="五、… / （二）强化新媒体工作", locator="第五部分", text=text, ordinal=3,
    )
    fields.update(kw)
    return Passage(**fields)


def test_citation_line_matches_the_agreed_format():
    assert citation(_passage("x")) == "来源：《2020年上海市商务委员会政务公开工作要点》，上海市商务委员会，2020-04-19，第五部分"
    no_date = _passage("x", date="", locator="", doc_number="商办厅函〔2017〕177号")
    assert citation(no_date) == "来源：《2020年上海市商务委员会政务公开工作要点》，上海市商务委员会，商办厅函〔2017〕177号"


def test_answer_quotes_only_sentences_of_the_cited_passage():
    text = (
        "(二)强化新媒体工作。加强政务新媒体规范化管理,不断增强信息编发、政策解读、回应关切能力。"
        + "扩大新媒体影响力,进一步打造有影响力的新媒体平台。" + "另外还要做好很多其他与问题无关的工作，例如档案整理和会议安排。" * 6
    )
    hits = [Hit(_passage(text), score=0.95, dense=0.9, bm25=1.0)]
    answer = compose_answer("政务新媒体有什么要求", hits, threshold=0.8)
    assert answer.found
    assert "政务新媒体规范化管理" in answer.text
    assert len(answer.text) < len(text)
    assert answer.message.endswith("第五部分")
    source_sentences = {normalize(display(s)) for s in split_sentences(text)}
    for sentence in split_sentences(answer.text):
        assert normalize(sentence) in source_sentences


def test_below_threshold_is_not_found_with_next_steps():
    hits = [Hit(_passage("无关内容。"), score=0.5, dense=0.5, bm25=0.0)]
    answer = compose_answer("护照怎么办", hits, threshold=0.8)
    assert not answer.found
    assert answer.text == NOT_FOUND_TEXT
    assert "没有找到" in answer.text and "依申请公开" in answer.text
    assert "来源" not in answer.message


def test_between_the_tentative_and_answer_thresholds_the_passage_is_offered_as_possibly_related():
    """A colloquial question about the agency's own business often embeds just under the answer
    threshold: the passage is still quoted and cited, but introduced as possibly not what was asked."""
    passage = _passage("申请人可以通过信函、传真或者当面提交的方式提出政府信息公开申请。")
    close = compose_answer("能寄信申请不", [Hit(passage, score=0.9, dense=0.89, bm25=0.5)], threshold=0.9, tentative_threshold=0.88)
    assert close.found and close.tentative
    assert close.text.startswith(TENTATIVE_LEAD + "\n") and "信函" in close.text and close.citation
    confident = compose_answer("能寄信申请不", [Hit(passage, score=0.92, dense=0.91, bm25=0.5)], threshold=0.9, tentative_threshold=0.88)
    assert confident.found and not confident.tentative and TENTATIVE_LEAD not in confident.text
    far = compose_answer("能寄信申请不", [Hit(passage, score=0.88, dense=0.87, bm25=0.5)], threshold=0.9, tentative_threshold=0.88)
    assert not far.found and far.text == NOT_FOUND_TEXT and not far.citation
    # Without a tentative threshold (or with it equal to the answer threshold) there is no band.
    assert not compose_answer("能寄信申请不", [Hit(passage, score=0.9, dense=0.89, bm25=0.5)], threshold=0.9).found


def test_a_passage_holding_the_staff_term_of_the_question_is_offered_a_little_further_down():
    passage = _passage("申请公开的信息中含有不应当公开的内容，但是能够作区分处理的，应当提供可以公开的内容。")
    plain = Hit(passage, score=0.9, dense=0.875, bm25=1.0)
    assert not compose_answer("文件好几处给涂黑了", [plain], threshold=0.9, tentative_threshold=0.885).found
    evidenced = Hit(passage, score=0.9, dense=0.875, bm25=1.0, evidence=True)
    answer = compose_answer("文件好几处给涂黑了", [evidenced], threshold=0.9, tentative_threshold=0.885)
    assert answer.found and answer.tentative and TENTATIVE_LEAD in answer.text
    far = Hit(passage, score=0.9, dense=0.86, bm25=1.0, evidence=True)
    assert not compose_answer("文件好几处给涂黑了", [far], threshold=0.9, tentative_threshold=0.885).found


def test_short_passage_is_returned_whole():
    text = "依托办理服务大厅,开设政务公开服务窗口。"
    assert select_sentences("有没有窗口", text) == text


def test_display_uses_chinese_punctuation():
    assert display("加强管理,提升能力:一是(试行)") == "加强管理，提升能力：一是（试行）"
    assert normalize("ＡＢＣ１２３，　你好") == "ABC123, 你好"


def test_faq_passage_answers_with_answer_and_basis_only():
    text = "问：申请公开要写用途吗（也可问：要不要说明目的）\n答：不需要说明用途。\n依据：《中华人民共和国政府信息公开条例》第二十九条"
    hits = [Hit(_passage(text, title="示例市商务局常见问题解答", locator=""), score=2.0, dense=0.9, bm25=1.0)]
    answer = compose_answer("申请公开要写用途吗", hits, threshold=0.8)
    assert answer.text == "不需要说明用途。\n依据：《中华人民共和国政府信息公开条例》第二十九条"


def test_question_about_another_place_is_not_answered():
    hits = [Hit(_passage("加强政务新媒体规范化管理。"), score=1.2, dense=0.95, bm25=1.0, other_place=True)]
    assert not compose_answer("北京市商务局对政务新媒体有什么要求", hits, threshold=0.8).found


def test_not_found_is_decided_by_the_closest_passage_anywhere():
    """Keyword boosts may rank a less similar passage first; the threshold asks whether anything is close."""
    low_top = Hit(_passage("办理时限：法定办结时限5个工作日。"), score=0.95, dense=0.85, bm25=1.0, best_dense=0.92)
    assert compose_answer("要多久", [low_top], threshold=0.9).found
    nothing_close = Hit(_passage("办理时限：法定办结时限5个工作日。"), score=0.95, dense=0.85, bm25=1.0, best_dense=0.86)
    assert not compose_answer("要多久", [nothing_close], threshold=0.9).found


def test_a_question_for_a_period_quotes_the_near_equal_passage_that_states_one():
    notice = Hit(_passage("（一）收费通知。行政机关决定收费的，应当向申请人发出收费通知，写明收费的依据和数额。"), score=0.95, dense=0.92, bm25=1.0)
    period = Hit(_passage("（二）缴费期限。申请人应当在收到收费通知的次日起20个工作日内缴纳费用。", ordinal=4), score=0.94, dense=0.91, bm25=0.8)
    far = Hit(_passage("（二）缴费期限。申请人应当在收到收费通知的次日起20个工作日内缴纳费用。", ordinal=5), score=0.90, dense=0.88, bm25=0.8)
    assert "20个工作日内缴纳" in compose_answer("收到收费通知几天内得交", [notice, period], threshold=0.8).text
    # Not asked for a period, or the passage that states one is well behind: the best passage.
    assert "20个工作日" not in compose_answer("收费通知写些什么", [notice, period], threshold=0.8).text
    assert "20个工作日" not in compose_answer("收到收费通知几天内得交", [notice, far], threshold=0.8).text


def test_the_fee_payment_period_is_answered_from_the_fee_rules(knowledge_service):
    reply = knowledge_service.reply("收到收费通知 这钱几天之内要交")
    assert "20个工作日内缴纳" in reply.text and "来源：" in reply.text, reply.text


def test_evaluation_reports_the_tentative_band_apart():
    """`kb eval` keeps 「过阈值」 and 「拒答」 on the answer threshold and counts the band below it apart,
    for answerable and unanswerable questions."""
    from bot.knowledge.evaluation import evaluate

    closeness = {"可答近": 0.95, "可答带内": 0.89, "不可答带内": 0.888, "不可答远": 0.80}
    passage = _passage("政务新媒体规范化管理。", doc_id="d")

    def search(query, top_k=5):
        return [Hit(passage, score=closeness[query], dense=closeness[query], bm25=0.0)]

    question_set = {
        "questions": [{"q": "可答近", "doc": "d", "fact": "规范化管理"}, {"q": "可答带内", "doc": "d", "fact": "规范化管理"}],
        "unanswerable": ["不可答带内", "不可答远"],
    }
    report = evaluate(search, question_set, threshold=0.9, tentative_threshold=0.885)
    assert (report.answered, report.tentative) == (0.5, 0.5)
    assert (report.rejected, report.tentative_unanswerable) == (1.0, 0.5)
    plain = evaluate(search, question_set, threshold=0.9)
    assert (plain.tentative, plain.tentative_unanswerable) == (0.0, 0.0)


def test_the_model_reads_which_sentence_answers_a_question_that_shares_few_words_with_it(knowledge_service):
    """「卖假货…会曝光吗」 shares almost no words with 「加大对侵权假冒行为的公开力度」: words alone
    quote the passage's other sentences; with the model's reading the asked one is quoted."""
    question, fact = "卖假货侵权的情况商务部会曝光吗", "加大对侵权假冒行为的公开力度"
    passage = next(p for p in knowledge_service.retriever.index.passages if fact in p.text)
    assert passage.doc_id == "mofcom-2017-disclosure-plan" and len(passage.text) > 300
    assert fact not in select_sentences(question, passage.text, passage.title)
    assert fact in select_sentences(question, passage.text, passage.title, knowledge_service.sentence_relevance)


def test_sentence_vectors_are_made_once_per_sentence(embedder):
    from bot.knowledge.sentence_relevance import SentenceRelevance

    relevance = SentenceRelevance(embedder, cache_size=3)
    sentences = ["申请人可以通过互联网提交申请。", "收费标准按件计收。", "本机关地址在示例大街1号。"]
    first = relevance("网上能申请吗", sentences)
    assert first.shape == (3,) and int(first.argmax()) == 0
    kept = dict(relevance._vectors)
    again = relevance("网上能申请吗", list(reversed(sentences)))
    assert all(relevance._vectors[s] is kept[s] for s in sentences)  # not embedded again
    assert np.allclose(again, first[::-1])
    relevance("地址在哪", ["办公时间为工作日。"])  # one more than the cache holds: the least recently used goes
    assert len(relevance._vectors) == 3 and "本机关地址在示例大街1号。" not in relevance._vectors


def test_warming_embeds_the_sentences_of_the_passages_answers_quote_part_of(knowledge_service):
    from bot.knowledge.answering import quoted_units, quotes_part_of

    relevance = knowledge_service.sentence_relevance
    passages = knowledge_service.retriever.index.passages
    long = [p for p in passages if quotes_part_of(p.text)]
    short = next(p for p in passages if len(p.text) < 100 and not p.text.startswith("问："))
    assert long and relevance.warm(passages) >= len(long)
    assert all(unit in relevance._vectors for p in long for unit in quoted_units(p.text)[2])
    assert short.text not in relevance._vectors


def test_sentence_vectors_are_left_beside_the_index_for_the_next_process(embedder, tmp_path):
    from bot.knowledge.sentence_relevance import VECTORS_FILE, SentenceRelevance

    old = _passage("申请人可以通过互联网提交申请。" * 10 + "收费标准按件计收。" * 10)
    new = _passage("申请人可以通过互联网提交申请。" * 10 + "本机关地址在示例大街1号。" * 10)
    before, after = tmp_path / "old" / VECTORS_FILE, tmp_path / "new" / VECTORS_FILE
    before.parent.mkdir()
    after.parent.mkdir()
    first = SentenceRelevance(embedder)
    assert first.warm([old], [before]) == 2 and set(SentenceRelevance._read(before)) == set(first._vectors)
    # The next index keeps the sentences the old one shares and adds its own.
    second = SentenceRelevance(embedder)
    assert second.warm([new], [after, before]) == 2
    kept = SentenceRelevance._read(after)
    assert set(kept) == {"申请人可以通过互联网提交申请。", "本机关地址在示例大街1号。"}
    assert np.array_equal(kept["申请人可以通过互联网提交申请。"], SentenceRelevance._read(before)["申请人可以通过互联网提交申请。"])
    # A process that starts on that index loads them all.
    third = SentenceRelevance(embedder)
    assert third.warm([new], [after]) == 2 and all(np.array_equal(third._vectors[u], kept[u]) for u in kept)
    # Where nothing can be kept the sentences are still embedded in memory.
    assert SentenceRelevance(embedder).warm([new], [tmp_path / "missing" / VECTORS_FILE]) == 2


def test_choosing_sentences_reuses_the_retrievers_question_vector_without_personal_data(knowledge_service):
    """The question is read as the retriever read it: the vector comes from the query cache, and no
    phone or ID number enters that cache."""
    question = "我电话13800138000，卖假货侵权的情况商务部会曝光吗"
    embedder = knowledge_service.embedder
    knowledge_service.answer(question)
    before = embedder.query_cache_info()
    knowledge_service.sentence_relevance(question, ["加大对侵权假冒行为的公开力度。"])
    after = embedder.query_cache_info()
    assert after["size"] == before["size"]  # served from the cache: nothing new embedded or kept
    assert not any("13800138000" in key for key in embedder._query_cache)


def test_the_sentence_stating_what_is_asked_for_is_quoted():
    """「哪个科负责」 is answered by the parenthesis naming the lead office, though the sentences
    before it share more of the question's words."""
    text = (
        "（九）积极回应社会关切。要组织做好本地本部门的政务舆情监测工作，扩大舆情收集范围，及时了解各方关切，有针对性地做好回应工作。"
        "对涉及本地本部门的重要政务舆情、媒体关切等热点问题，要认真研判处置，及时借助媒体、网站等渠道发布准确权威信息。"
        "遇有重大突发事件时，负责处置的地方及其部门是信息发布的第一责任人，主要负责人要当好第一新闻发言人，快速反应、及时发声。"
        "针对涉及突发事件的各种虚假不实信息，要迅速澄清事实，消除不良影响。特别重大、重大突发事件发生后，应在24小时内举行新闻发布会。"
        "(商务运行科牵头；相关科室配合)"
    )
    assert "商务运行科牵头" in select_sentences("回应社会关切这块是哪个科负责", text)
    assert "商务运行科牵头" not in select_sentences("回应社会关切这块要做些什么", text)


def test_a_question_for_the_lead_office_quotes_the_near_equal_passage_that_names_it():
    """「牵头的是哪个科」: of two passages scored alike, the one that names a lead office is quoted."""
    plain = Passage("plan", "方案", "某局", "", "", "一", "第一部分", "要加大打假信息公开力度，及时发布案件信息。", 0)
    named = Passage("plan", "方案", "某局", "", "", "二", "第二部分", "加大对侵权假冒行为的公开力度（牵头单位：打击侵权假冒办）。", 1)
    hits = [Hit(plain, 0.95, 0.95, 0.5), Hit(named, 0.94, 0.94, 0.5)]
    assert cited_hit("打假公开那条是哪个科牵头的", hits).passage is named
    assert cited_hit("打假公开是怎么要求的", hits).passage is plain


def test_a_question_for_a_count_quotes_the_sentence_with_the_number():
    """「一天接待多少人」: the sentence stating 「120余人次」 is quoted, though others share more words."""
    text = (
        "商务部政务大厅设在商务部办公楼一层，大厅按照集中受理、统一办理、限时办结的要求运行，各司局的审批事项都进入大厅办理。"
        "大厅设立了咨询台、受理窗口和查询终端，办事企业可以在大厅查询办理进度，政务大厅的办理流程和办理时限都在大厅和网站上公开。"
        "政务大厅还定期听取办事企业对大厅服务的意见，不断改进服务方式，提高政务大厅的办事效率和服务质量，方便企业办事。"
        "大厅的工作人员都经过统一培训，熟悉各项审批业务，能够为企业提供一次性告知服务，减少企业往返的次数。"
        "目前日均接待办事人员120余人次。"
    )
    assert "120余人次" in select_sentences("政务大厅一天大概要接待多少办事的人", text)
    assert "120余人次" not in select_sentences("政务大厅的服务方式是怎么改进的", text)


def test_asked_the_period_of_an_action_the_passage_whose_period_is_for_it_is_quoted():
    """「对答复不满意 多久内能申请复议」: the answer period (20个工作日内答复) ranks level with the review
    period; the one whose period is for 复议 answers."""
    answer_period = Hit(_passage("（七）答复期限。不能当场答复的，自收到申请之日起20个工作日内答复。"), score=0.97, dense=0.92, bm25=0.6)
    review = Hit(
        _passage("（二）行政复议。可以自知道该行为之日起60日内，依法向示例市人民政府申请行政复议。", ordinal=4), score=0.95, dense=0.91, bm25=0.5
    )
    assert "60日内" in compose_answer("对你们的答复有意见 多久之内可以申请复议", [answer_period, review], threshold=0.8).text
    # Asked the answer period itself: the best passage.
    assert "20个工作日内" in compose_answer("对你们的答复要等多久", [answer_period, review], threshold=0.8).text
