"""Synthetic distractor documents for the scale check (issue 15 item 5). A bench, not a test.

`python -m bench.distractors OUT_DIR -n 1000` writes N Markdown documents in the knowledge base's
format: notices, work plans (工作要点), annual disclosure reports with a table of figures, policy
interpretations and self-assessments of fictional sample agencies (made-up cities and counties, so
no real place becomes "known" to the retriever). Their sentences are the seed documents' own
(knowledge/documents/) with the issuer, place and years swapped, mixed with templated clauses that
carry deadlines, amounts, counts, phones and addresses — the kind of text that competes with the
real answers. Every file is marked synthetic: its id and file name start with ``synthetic-`` and
its ``source`` says 合成干扰文档; nothing here is real government information.

`python -m bench.distractors WORK --measure N[,N…]` copies knowledge/ with N distractors added, builds
the index with the prepared model (new passages only: the project's index, or a smaller count's in
the same WORK, is reused by text; a count already built there is only loaded) and reports the build
rate, Hit@1 / answered / rejected / answered with the fact on the dev set and the held-out set
(aggregates only), then, in a fresh process as an action server holds the index, query p50/p95
with no query cache and memory, with the vectors in process and in Qdrant (qdrant-client's local
mode: a Python stand-in for the server, so its latency is an upper bound). Results: WORK/scale.json.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC_PREFIX = "synthetic-"
SOURCE = "合成干扰文档（bench/distractors.py 生成，非真实政府信息）"

CITIES = ["青禾", "云溪", "临川", "白鹭", "松原", "望海", "丹霞", "清源", "柳河", "石桥", "金沙", "栖霞湾",
          "北岭", "南屏", "东陵", "西畴", "玉泉", "龙川", "凤鸣", "桃源", "长汀", "明湖", "翠峰", "平阳"]
LEVELS = ["市", "县", "区"]
DEPARTMENTS = ["商务局", "发展和改革委员会", "财政局", "人力资源和社会保障局", "市场监督管理局", "生态环境局",
               "住房和城乡建设局", "交通运输局", "农业农村局", "文化和旅游局", "卫生健康委员会", "教育局",
               "民政局", "司法局", "统计局", "自然资源局", "应急管理局", "医疗保障局", "退役军人事务局", "数据资源局"]
PROGRAMMES = ["外贸稳增长", "农村电商进万家", "老旧小区改造", "中小企业纾困", "消费券发放", "职业技能提升",
              "家政服务提质", "绿色建材下乡", "冷链物流补短板", "夜间经济培育", "县域商业体系建设", "数字化转型",
              "乡村振兴示范", "公共法律服务", "生活必需品保供", "大宗商品监测", "展会补贴", "人才安居"]
KINDS = ("notice", "plan", "report", "interpretation", "review")
NUMERALS = "一二三四五六七八九十"
_SENTENCE = re.compile(r"[^。；！？\n]{12,160}[。；！？]")


def seed_sentences(knowledge_dir: Path = ROOT / "knowledge") -> list[str]:
    """Sentences of the seed documents, each naming no issuer of its own (swapped in later)."""
    sentences = []
    for path in sorted((knowledge_dir / "documents").glob("*.md")):
        body = path.read_text(encoding="utf-8").split("---", 2)[-1]
        sentences += [s.strip() for s in _SENTENCE.findall(body)]
    return sentences


def _swap(sentence: str, issuer: str, place: str, year: int) -> str:
    """The seed sentence as the synthetic agency would write it."""
    sentence = re.sub(r"(安徽省|上海市|楚雄州|楚雄|商务部|安徽|上海)(商务厅|商务委员会|商务局)?", place, sentence)
    sentence = re.sub(r"我(厅|委|部)", "我局", sentence)
    return re.sub(r"20[12]\d", lambda m: str(year - random.randint(0, 1)), sentence)


def _clause(rng: random.Random, place: str, issuer: str, year: int, programme: str) -> str:
    day = f"{year}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
    phone = f"0{rng.randint(300, 999)}-{rng.randint(2000000, 8999999)}"
    return rng.choice([
        f"申报截止时间为{day}，逾期不予受理。",
        f"符合条件的企业可获得最高{rng.choice([5, 10, 20, 30, 50, 100])}万元的{programme}专项资金支持，补助比例不超过{rng.choice([20, 30, 40, 50])}%。",
        f"咨询电话：{phone}（工作日上午9:00—12:00，下午14:00—17:30）。",
        f"受理地点：{place}政务服务中心{rng.randint(1, 4)}楼{rng.randint(1, 40)}号窗口（{place}{rng.choice(['人民路', '建设大道', '滨江路', '中山路'])}{rng.randint(1, 300)}号）。",
        f"全年共受理{programme}相关申请{rng.randint(20, 900)}件，办结率{rng.randint(90, 100)}%。",
        f"{issuer}将在收到材料后{rng.choice([5, 7, 10, 15, 20])}个工作日内完成审核，并将结果在门户网站公示{rng.choice([5, 7])}天。",
        f"申请材料包括：申请表、营业执照复印件、{rng.choice(['上年度财务报表', '项目实施方案', '银行账户信息', '纳税证明'])}和承诺书，一式{rng.choice(['两', '三'])}份。",
        f"{year}年全{place[-1]}{programme}工作共投入资金{rng.randint(100, 9000)}万元，惠及{rng.randint(50, 5000)}户。",
        f"联系人：{rng.choice('王李张刘陈杨赵黄周吴')}{rng.choice(['科长', '老师', '同志'])}，电子邮箱：{rng.choice(['zwgk', 'xxgk', 'bgs'])}{rng.randint(10, 99)}@example.gov.cn。",
    ])


def _section(rng, sentences, heading, place, issuer, year, programme, clauses=2) -> str:
    body = [_swap(rng.choice(sentences), issuer, place, year) for _ in range(rng.randint(1, 3))]
    body += [_clause(rng, place, issuer, year, programme) for _ in range(rng.randint(1, clauses))]
    rng.shuffle(body)
    return f"## {heading}\n\n{''.join(body)}\n"


def _report_table(rng, year) -> str:
    received = rng.randint(5, 400)
    rows = [("主动公开政府信息数（条）", rng.randint(100, 3000)), ("收到政府信息公开申请（件）", received),
            ("予以公开（件）", rng.randint(0, received)), ("行政复议（件）", rng.randint(0, 9)),
            ("行政诉讼（件）", rng.randint(0, 5)), ("收取信息处理费（元）", rng.choice([0, 0, 0, 150, 300]))]
    lines = [f"| 指标 | {year}年 |", "| --- | --- |"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"


def generate(n: int, out_dir: Path, seed: int = 15, knowledge_dir: Path = ROOT / "knowledge") -> list[Path]:
    """Write n synthetic documents into out_dir (created); returns their paths."""
    rng = random.Random(seed)
    random.seed(seed)  # _swap's years
    sentences = seed_sentences(knowledge_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        place = rng.choice(CITIES) + rng.choice(LEVELS)
        issuer = place + rng.choice(DEPARTMENTS)
        year = rng.randint(2016, 2025)
        programme = rng.choice(PROGRAMMES)
        kind = KINDS[i % len(KINDS)]
        headings = {
            "notice": ["申报对象和条件", "支持内容和标准", "申报材料", "办理程序", "时间安排", "联系方式"],
            "plan": ["总体要求", "推进决策公开", "加强政策解读", "回应社会关切", "规范依申请公开", "保障措施"],
            "report": ["总体情况", "主动公开政府信息情况", "收到和处理政府信息公开申请情况", "行政复议和行政诉讼情况",
                       "存在的主要问题及改进情况", "其他需要报告的事项"],
            "interpretation": ["出台背景", "主要内容", "适用对象", "支持标准", "办理流程", "政策咨询"],
            "review": ["主要工作情况", "重点领域信息公开", "政策解读和回应关切", "存在的主要问题", "下一步工作打算"],
        }[kind]
        title = {
            "notice": f"{issuer}关于开展{year}年度{programme}项目申报工作的通知",
            "plan": f"{issuer}{year}年政务公开工作要点",
            "report": f"{issuer}{year}年政府信息公开工作年度报告",
            "interpretation": f"《{place}{programme}实施办法》政策解读",
            "review": f"{issuer}关于{year}年度政务公开工作情况的总结",
        }[kind]
        keep = sorted(rng.sample(range(len(headings)), rng.randint(3, len(headings))))
        sections = []
        for number, k in enumerate(keep):
            section = _section(rng, sentences, f"{NUMERALS[number]}、{headings[k]}", place, issuer, year, programme)
            if kind == "report" and headings[k] == "总体情况":
                section += "\n" + _report_table(rng, year)
            sections.append(section)
        doc_id = f"{SYNTHETIC_PREFIX}{i:05d}-{kind}"
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        front = (f'---\nid: "{doc_id}"\ntitle: "{title}"\nissuer: "{issuer}"\ndate: "{year}-{month:02d}-{day:02d}"\n'
                 f'index_no: "SYN{rng.randint(10**8, 10**9 - 1)}/{year}-{rng.randint(1, 99999):05d}"\nsource: "{SOURCE}"\n---\n\n')
        path = out_dir / f"{doc_id}.md"
        path.write_text(front + "\n".join(sections), encoding="utf-8")
        paths.append(path)
    return paths


def query_check(knowledge: Path, cache: Path, questions: Path, store: str = "memory") -> dict:
    """In a process of its own, as an action server holds it: the index loaded (vectors in process or
    in Qdrant's local mode), each question searched once with no query cache; latency and memory."""
    import os
    import time
    from dataclasses import replace

    os.environ["GOVBOT_QUERY_CACHE_SIZE"] = "0"
    from bot.knowledge.evaluation import load_question_set
    from bot.knowledge.retriever import load_issuer_aliases
    from bot.knowledge.service import KnowledgeService
    from bot.settings import Settings

    service = KnowledgeService(replace(Settings.from_env(), knowledge_dir=knowledge, cache_dir=cache))
    service.build()
    row = {"store": store}
    if store == "qdrant":
        from qdrant_client import QdrantClient

        from bot.knowledge.qdrant_store import QdrantRetriever

        in_process = service.retriever
        started = time.perf_counter()
        service._retriever = QdrantRetriever(
            in_process.index, service.embedder, load_issuer_aliases(knowledge / "issuers.yml"),
            client=QdrantClient(location=":memory:"), **service._retriever_options(),
        )
        row["fill_seconds"] = round(time.perf_counter() - started, 1)
    asked = [q["q"] for q in load_question_set(questions)["questions"]]
    service.search(asked[0])  # first call: lazy set-up
    latencies, tops = [], []
    for q in asked:
        t = time.perf_counter()
        hits = service.search(q)
        latencies.append((time.perf_counter() - t) * 1000)
        tops.append([h.passage.passage_id for h in hits])
    if store == "qdrant":
        same = sum(top == [h.passage.passage_id for h in in_process.search(q)] for q, top in zip(asked, tops))
        row["same_top5_as_in_process"] = f"{same}/{len(asked)}"
    latencies.sort()
    row["search_ms"] = {"p50": round(latencies[len(latencies) // 2], 1), "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1)}
    status = Path("/proc/self/status").read_text()
    row["rss_mb"] = {k: int(re.search(rf"{k}:\s+(\d+)", status).group(1)) // 1024 for k in ("VmRSS", "VmHWM")}
    return row


def measure(counts: list[int], work: Path, questions: list[Path]) -> list[dict]:
    """Per count: index build with the distractors added (vectors of the project's own passages, and
    of a smaller count's run in the same work directory, reused: the same seed writes the same first
    documents), retrieval figures, then query latency and memory in a fresh process, in process and
    with Qdrant (local mode)."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    import time
    from dataclasses import replace

    from bot.knowledge.evaluation import evaluate, load_question_set
    from bot.knowledge.service import KnowledgeService
    from bot.settings import Settings

    base = Settings.from_env()
    rows = []
    for n in counts:
        case = work / f"n{n}"
        shutil.rmtree(case / "knowledge", ignore_errors=True)
        shutil.copytree(base.knowledge_dir, case / "knowledge")
        generate(n, case / "knowledge" / "documents")
        if not (case / "cache" / "index" / "CURRENT").exists():
            shutil.rmtree(case / "cache", ignore_errors=True)
            earlier = [int(p.name[1:]) for p in work.glob("n*") if p.name[1:].isdigit() and int(p.name[1:]) < n
                       and (p / "cache" / "index" / "CURRENT").exists()]
            if earlier:  # a smaller run's index holds the project's vectors and its distractors'
                shutil.copytree(work / f"n{max(earlier)}" / "cache" / "index", case / "cache" / "index")
            else:
                (case / "cache" / "index").mkdir(parents=True)
                key = (base.index_dir / "CURRENT").read_text().strip()
                shutil.copytree(base.index_dir / key, case / "cache" / "index" / key)  # reused by text
                (case / "cache" / "index" / "CURRENT").write_text(key + "\n")
            (case / "cache" / "models").symlink_to(base.models_dir.resolve(), target_is_directory=True)
        service = KnowledgeService(replace(base, knowledge_dir=case / "knowledge", cache_dir=case / "cache"))
        service.embedder.prepare_queries()
        cpu, started = time.process_time(), time.perf_counter()
        stats = service.build()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        row = {"distractors": n, "passages": stats["passages"], "new_passages": stats["embedded"],
               "new_phrasings": stats.get("questions_embedded", 0), "build_seconds": round(seconds, 1),
               "build_cpu_seconds": round(cpu, 1),
               "new_passages_per_second": round(stats["embedded"] / seconds, 1) if stats["embedded"] else None,
               "load": [round(x, 2) for x in os.getloadavg()]}
        for path in questions:
            report = evaluate(service.search, load_question_set(path), service.settings.answer_threshold, answer=service.answer)
            row[path.stem] = {k: round(getattr(report, k), 4) for k in ("hit_at_1", "answered", "rejected", "answered_with_fact")}
        del service
        for store in ("memory", "qdrant"):
            code = ("import json, sys; from pathlib import Path; from bench.distractors import query_check; "
                    "print(json.dumps(query_check(*map(Path, sys.argv[1:4]), sys.argv[4])))")
            done = subprocess.run([sys.executable, "-c", code, str(case / "knowledge"), str(case / "cache"), str(questions[0]), store],
                                  cwd=ROOT, capture_output=True, text=True, check=True)
            row[store] = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="directory for the documents (with --measure: a work directory)")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--measure", help="comma-separated distractor counts to measure, e.g. 1000,10000")
    parser.add_argument("--questions", type=Path, action="append", help="question sets (default: the dev set)")
    args = parser.parse_args()
    if args.measure:
        heldout = ROOT / "tests" / "data" / "blind" / "retrieval_heldout.yml"
        sets = args.questions or [ROOT / "tests" / "data" / "retrieval_dev.yml"] + ([heldout] if heldout.exists() else [])
        rows = measure([int(n) for n in args.measure.split(",")], args.out, sets)
        (args.out / "scale.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        print(len(generate(args.n, args.out, args.seed)), "synthetic documents in", args.out)


if __name__ == "__main__":
    main()
