"""Write the labelled bilingual PII set lmops-presidio is measured on.

Chinese names are drawn from the surname frequencies of China's 2020 census
(the 100 commonest, plus compound surnames at their small real share) and
from given names common across generations (about one in five a single
character), placed in bank and customer-service sentences written in Chinese,
English and a mix of both. The set has two parts with disjoint sentence
templates and different random draws: ``tune`` (what the recognizers may be
adjusted on) and ``heldout`` (never used for tuning; the tests assert the
targets on it).

    .venv/bin/python benchmarks/make_bilingual_pii_set.py

Each output line: ``{"text", "lang": "zh"|"en"|"mixed", "spans": [[ENTITY, start, end], ...]}``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from bench_presidio import luhn_complete, make_card, make_cn_id

OUT = Path(__file__).resolve().parents[1] / "plugins/lmops-presidio/tests/data/bilingual_pii"

# Share of the population in percent (2020 census, rounded).
SURNAMES = (
    "王7.1 李7.0 张6.6 刘5.4 陈4.6 杨3.1 黄2.2 赵2.1 吴2.0 周1.9 徐1.5 孙1.5 马1.4 朱1.3 胡1.2 "
    "郭1.2 何1.1 林1.1 高1.1 罗1.0 郑0.9 梁0.9 谢0.8 宋0.7 唐0.7 许0.6 韩0.6 邓0.6 冯0.6 曹0.6 "
    "彭0.5 曾0.5 肖0.5 田0.5 董0.5 潘0.4 袁0.4 蔡0.4 蒋0.4 余0.4 于0.4 杜0.4 叶0.4 程0.3 魏0.3 "
    "苏0.3 吕0.3 丁0.3 任0.3 卢0.3 姚0.3 沈0.3 钟0.3 姜0.3 崔0.3 谭0.3 陆0.2 范0.2 汪0.2 廖0.2 "
    "石0.2 金0.2 韦0.2 贾0.2 夏0.2 付0.2 方0.2 邹0.2 熊0.2 白0.2 孟0.2 秦0.2 邱0.2 侯0.2 江0.2 "
    "尹0.2 薛0.2 闫0.2 段0.2 雷0.2 龙0.1 黎0.1 史0.1 陶0.1 贺0.1 毛0.1 郝0.1 顾0.1 龚0.1 邵0.1 "
    "万0.1 覃0.1 武0.1 钱0.1 戴0.1 严0.1 莫0.1 孔0.1 向0.1 常0.1 汤0.1 "
    "欧阳0.05 司马0.01 诸葛0.01 上官0.01 慕容0.005 令狐0.005"
)
GIVEN = (
    "伟 强 磊 军 勇 杰 涛 斌 超 明 刚 平 辉 鹏 华 飞 鑫 波 宁 浩 芳 娜 敏 静 丽 艳 娟 霞 婷 雪 琳 颖 洁 "
    "建华 建国 建军 志强 志明 国强 海涛 晓东 俊杰 文博 子轩 浩然 宇轩 梓睿 一鸣 思远 天佑 博文 家豪 "
    "明辉 振华 立新 永刚 德明 春雷 海波 雨泽 子豪 宇航 俊熙 泽宇 国栋 卫东 红军 建平 晨阳 奕辰 皓轩 "
    "秀英 桂英 秀兰 玉兰 桂兰 丽娟 海燕 红梅 春梅 晓燕 婷婷 欣怡 梓涵 诗涵 雨桐 一诺 可馨 子涵 梓萱 "
    "佳怡 雅静 欣然 思琪 梦瑶 语嫣 美玲 慧敏 淑芬 晓丽 文静 静怡 若汐 依诺 雨欣 紫涵 心怡 晓雪 "
    "永福 金凤 玉珍 凤英 建新 少华 嘉欣 浩宇 晓峰 丹丹 亚楠 国华 秀珍 文杰 树林 翠花 海峰 小红"
)
PINYIN_FIRST = ["Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yong", "Jie", "Tao", "Li"]
PINYIN_LAST = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"]
EN_FIRST = ["James", "Maria", "Emily", "Daniel", "Sarah", "Michael", "Laura", "David", "Anna"]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Lewis"]
ZH_PLACES = [
    "北京",
    "上海",
    "深圳",
    "广州",
    "杭州",
    "成都",
    "武汉",
    "南京",
    "西安",
    "天津",
    "重庆",
    "苏州",
    "长沙",
    "郑州",
    "青岛",
    "厦门",
    "昆明",
    "大连",
    "哈尔滨",
    "沈阳",
    "济南",
    "合肥",
    "福州",
    "南宁",
    "贵阳",
    "兰州",
    "乌鲁木齐",
    "海口",
    "浦东新区",
    "朝阳区",
    "海淀区",
    "南山区",
    "广东省",
    "浙江省",
    "江苏省",
    "四川省",
    "山东省",
    "河南省",
    "湖北省",
    "云南省",
]
EN_PLACES = ["London", "Singapore", "New York", "Hong Kong", "Frankfurt", "Sydney", "Toronto"]
ZH_ORGS = [
    "中国工商银行",
    "中国建设银行",
    "中国农业银行",
    "中国银行",
    "交通银行",
    "招商银行",
    "浦发银行",
    "兴业银行",
    "中国平安",
    "华为技术有限公司",
    "阿里巴巴集团",
    "腾讯公司",
    "国家电网",
    "中国移动",
    "北京大学",
    "复旦大学",
]

# {SLOT}: a labelled value; {SLOT_EN}/{SLOT_PY}: the English / pinyin form.
TEMPLATES = {
    "tune": [
        ("zh", "客户{PERSON}于昨日在{LOCATION}的网点办理了开户业务。"),
        ("zh", "请{PERSON}携带身份证原件到柜台办理挂失。"),
        ("zh", "经办人：{PERSON}，复核人：{PERSON}。"),
        ("zh", "VIP客户{PERSON}的账户已冻结，请联系客户经理{PERSON}。"),
        ("zh", "{PERSON}明天去{LOCATION}出差，请提前预订酒店。"),
        ("zh", "尊敬的{PERSON}女士，您的信用卡账单已出，请按时还款。"),
        ("zh", "{PERSON}的手机号是{CN_MOBILE}，请尽快回电。"),
        ("zh", "客户姓名：{PERSON}，身份证号：{CN_RESIDENT_ID}。"),
        ("zh", "您好，我是{ORGANIZATION}的{PERSON}，想咨询一下房贷利率。"),
        ("zh", "投诉人{PERSON}称其在{LOCATION}的自动取款机上被吞卡。"),
        ("zh", "本周末网点营业时间调整为上午九点至下午五点。"),
        ("zh", "黄金价格今天上涨了百分之二，请留意风险。"),
        ("mixed", "Please contact {PERSON} at {EMAIL_ADDRESS} about the mortgage."),
        ("mixed", "客户 {PERSON_PY}（{PERSON}）的账户已升级为 VIP。"),
        ("mixed", "RM {PERSON} 负责该客户，mobile {CN_MOBILE}。"),
        ("mixed", "{PERSON_EN} 下周到{LOCATION}拜访客户。"),
        ("en", "{PERSON_EN} opened a savings account in {LOCATION_EN} last week."),
        ("en", "Please send the statement to {PERSON_EN} at {EMAIL_ADDRESS}."),
        # These were a first held-out part, looked at once; now tuning material.
        ("zh", "收款人：{PERSON}，开户行：{ORGANIZATION}。"),
        ("zh", "转账给{PERSON}，卡号{CN_BANK_CARD}，金额五千元。"),
        ("zh", "{PERSON}和{PERSON}是该联名账户的共同持有人。"),
        ("zh", "请将合同寄到{LOCATION}，收件人{PERSON}，电话{CN_MOBILE}。"),
        ("zh", "{PERSON}先生，您尾号的借记卡今天消费了三百元。"),
        ("zh", "据{PERSON}反映，{LOCATION}的网点排队时间过长。"),
        ("zh", "借款人{PERSON}已于上月还清全部贷款。"),
        ("zh", "担保人{PERSON}，证件号码{CN_RESIDENT_ID}，联系电话{CN_MOBILE}。"),
        ("zh", "理财经理{PERSON}向客户推荐了一款稳健型基金。"),
        ("zh", "今天由{PERSON}值班，有问题请找她。"),
        ("zh", "{PERSON}在{ORGANIZATION}工作，月收入约两万元。"),
        ("zh", "马上为您办理，请稍等片刻。"),
        ("zh", "方便的话请留下联系方式，我们会尽快回复。"),
        ("zh", "周末高速公路免费通行，石油价格小幅回落。"),
        ("mixed", "Customer {PERSON}, ID {CN_RESIDENT_ID}, 请核实身份。"),
        ("mixed", "Meeting with {PERSON} from {ORGANIZATION} in {LOCATION} tomorrow."),
        ("mixed", "{PERSON}（{PERSON_PY}）已提交 KYC 材料，请审核。"),
        ("mixed", "The loan officer {PERSON_EN} called {PERSON} about the overdue payment."),
        ("mixed", "请把报告发给 {PERSON_EN}，邮箱 {EMAIL_ADDRESS}。"),
        ("en", "Dear {PERSON_EN}, your transfer to {LOCATION_EN} has been completed."),
        ("en", "{PERSON_EN} asked to close the account opened in {LOCATION_EN}."),
        ("en", "The branch will be closed on Monday for maintenance."),
    ],
    "heldout": [
        ("zh", "{PERSON}女士在{LOCATION}购买了一套住房，首付款已到账。"),
        ("zh", "客户经理{PERSON}今天请假，由{PERSON}代为处理。"),
        ("zh", "户名：{PERSON}；账号：{CN_BANK_CARD}；开户地：{LOCATION}。"),
        ("zh", "{PERSON}来电称手机{CN_MOBILE}收不到验证码。"),
        ("zh", "请核对{PERSON}的身份证{CN_RESIDENT_ID}是否在有效期内。"),
        ("zh", "此笔汇款由{PERSON}从{LOCATION}汇出。"),
        ("zh", "我叫{PERSON}，想把定期存款转成活期。"),
        ("zh", "{PERSON}是我们的老客户了，上次来还是去年秋天。"),
        ("zh", "审批人{PERSON}意见：同意放款。"),
        ("zh", "明天上午十点，{PERSON}会在{LOCATION}等您。"),
        ("zh", "请在手机银行中查看最新的理财产品。"),
        ("zh", "本月信用卡还款日为二十五号，请按时还款。"),
        ("zh", "利率下调后，房贷月供减少了两百元。"),
        ("mixed", "Wire from {PERSON} ({PERSON_PY}) received, 金额一万美元。"),
        ("mixed", "客户 {PERSON_EN} 要求更改联系电话为 {CN_MOBILE}。"),
        ("mixed", "As requested by {PERSON}, the card has been blocked."),
        ("mixed", "{PERSON_EN} 和{PERSON}将在{LOCATION}签约。"),
        ("mixed", "请 call back {PERSON}，下午三点前。"),
        ("en", "{PERSON_EN} from {LOCATION_EN} requested a new debit card."),
        ("en", "Our adviser {PERSON_EN} will call you on Tuesday."),
        ("en", "Interest rates were unchanged this quarter."),
    ],
}

_SLOT = re.compile(r"\{([A-Z_]+)\}")


def _weighted(spec: str) -> tuple[list[str], list[float]]:
    pairs = [re.fullmatch(r"(\D+)([\d.]+)", item) for item in spec.split()]
    return [m.group(1) for m in pairs if m], [float(m.group(2)) for m in pairs if m]


SURNAME_CHOICES, SURNAME_WEIGHTS = _weighted(SURNAMES)
GIVEN_NAMES = GIVEN.split()


def chinese_name(rng: random.Random) -> str:
    """A surname by census frequency and a given name (about 1 in 5 one character)."""
    surname = rng.choices(SURNAME_CHOICES, SURNAME_WEIGHTS)[0]
    singles = [name for name in GIVEN_NAMES if len(name) == 1]
    doubles = [name for name in GIVEN_NAMES if len(name) == 2]
    return surname + rng.choice(singles if rng.random() < 0.2 else doubles)


def value(rng: random.Random, slot: str) -> tuple[str, str | None]:
    """A value for ``slot`` and the entity it is labelled as."""
    if slot == "PERSON":
        return chinese_name(rng), "PERSON"
    if slot == "PERSON_PY":
        return f"{rng.choice(PINYIN_FIRST)} {rng.choice(PINYIN_LAST)}", "PERSON"
    if slot == "PERSON_EN":
        return f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}", "PERSON"
    if slot == "LOCATION":
        return rng.choice(ZH_PLACES), "LOCATION"
    if slot == "LOCATION_EN":
        return rng.choice(EN_PLACES), "LOCATION"
    if slot == "ORGANIZATION":
        return rng.choice(ZH_ORGS), "ORGANIZATION"
    if slot == "CN_MOBILE":
        return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}", "CN_MOBILE"
    if slot == "CN_RESIDENT_ID":
        return make_cn_id(rng), "CN_RESIDENT_ID"
    if slot == "CN_BANK_CARD":
        return luhn_complete(rng, "62", rng.choice([16, 19])), "CN_BANK_CARD"
    if slot == "CREDIT_CARD":
        return make_card(rng), "CREDIT_CARD"
    if slot == "EMAIL_ADDRESS":
        return f"{rng.choice(PINYIN_FIRST).lower()}{rng.randrange(100)}@example.com", slot
    raise KeyError(slot)


def fill(rng: random.Random, lang: str, template: str) -> dict[str, object]:
    """One labelled record from ``template``."""
    text = ""
    spans: list[list[object]] = []
    position = 0
    for match in _SLOT.finditer(template):
        text += template[position : match.start()]
        filled, entity = value(rng, match.group(1))
        if entity is not None:
            spans.append([entity, len(text), len(text) + len(filled)])
        text += filled
        position = match.end()
    text += template[position:]
    return {"text": text, "lang": lang, "spans": spans}


def distinct_records(count: int, seed: int = 2026) -> list[dict[str, object]]:
    """``count`` labelled texts for throughput, none repeating even once redacted.

    Each text is two sentences of two different templates (of both parts), an
    ordered pair used once: texts that differ only in their names would blank
    to the same redacted text, which a re-scan reads once, so a set of single
    templates measures a cache rather than the work. ``lang`` is the pair's
    (``mixed`` when the two differ).
    """
    templates = TEMPLATES["tune"] + TEMPLATES["heldout"]
    pairs = [(a, b) for a in range(len(templates)) for b in range(len(templates)) if a != b]
    if count > len(pairs):
        raise ValueError(f"--distinct: at most {len(pairs)} texts (template pairs), not {count}")
    rng = random.Random(seed)
    records = []
    for first, second in rng.sample(pairs, count):
        one = fill(rng, *templates[first])
        two = fill(rng, *templates[second])
        gap = " " if "en" in (one["lang"], two["lang"]) else ""
        shift = len(str(one["text"])) + len(gap)
        spans: list[list[object]] = list(one["spans"])  # type: ignore[call-overload]
        for entity, start, end in two["spans"]:  # type: ignore[attr-defined]
            spans.append([entity, start + shift, end + shift])
        lang = one["lang"] if one["lang"] == two["lang"] else "mixed"
        records.append({"text": f"{one['text']}{gap}{two['text']}", "lang": lang, "spans": spans})
    return records


def main() -> None:
    """Write ``tune.jsonl`` and ``heldout.jsonl``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-template", type=int, default=20)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for part, seed in (("tune", 17), ("heldout", 1717)):
        rng = random.Random(seed)
        records = [
            fill(rng, lang, template)
            for lang, template in TEMPLATES[part]
            for _ in range(args.per_template)
        ]
        with (args.out / f"{part}.jsonl").open("w", encoding="utf-8", newline="\n") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"{part}: {len(records)} texts -> {args.out / (part + '.jsonl')}")


if __name__ == "__main__":
    main()
