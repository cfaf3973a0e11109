"""Rendering one campaign's figures: the Chinese narrative against section 七 of the reference
report, English from the same data, --exact, Markdown, and HTML safe for email."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest

from campaigns.summaries.render import chart_series, heading, render, render_many, table_rows


def metric(
    zh: str,
    en: str,
    unit: str,
    unit_en: str,
    total: int,
    *,
    money: bool = False,
    target: int | None = None,
    previous: int | None = None,
    corrections: int = 0,
) -> dict[str, Any]:
    return {
        "zh": zh,
        "en": en,
        "unit": unit,
        "unit_en": unit_en,
        "money": money,
        "total": total,
        "recorded": total - corrections,
        "corrections": corrections,
        "tallies": 3,
        "correction_tallies": 1 if corrections else 0,
        "target": target,
        "reached_pct": round(100 * total / target, 1) if target else None,
        "previous": previous,
        "change_pct": round(100 * (total - previous) / previous, 1) if previous else None,
    }


def campaign(kind: str, title: str, first: str, last: str, venue: str | None) -> dict[str, Any]:
    return {
        "id": f"2019-{kind}",
        "kind": kind,
        "year": 2019,
        "title": title,
        "first_day": first,
        "last_day": last,
        "timezone": "Asia/Shanghai",
        "venue": venue,
        "status": "reported",
    }


# Section 七's Science and Technology Week, figure for figure (as exact tallies).
SCI_TECH_WEEK: dict[str, Any] = {
    "kind": "final",
    "campaign": campaign(
        "sci-tech-week", "2019年鹤壁市科技活动周", "2019-05-19", "2019-05-26", None
    ),
    "metrics": {
        "lectures": metric("讲座", "lectures", "场", "sessions", 12),
        "trainees": metric("培训人数", "people trained", "人", "people", 350),
        "legal-services": metric("法律服务", "legal services", "次", "times", 108),
        "materials": metric("宣传资料", "publicity materials", "册", "copies", 10240),
        "attendance": metric("参与人次", "attendance", "人次", "visits", 9870),
        "units": metric("参与单位", "participating organisations", "家", "organisations", 103),
        "boards": metric("展板", "display boards", "块", "boards", 120),
        "funding": metric("经费", "funding", "元", "yuan", 103000, money=True),
    },
    "by_day": {},
    "by_venue": {},
    "corrections": [],
}

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def ip_day(venue: str = "新世纪广场") -> dict[str, Any]:
    return {
        "kind": "final",
        "version": 1,
        "campaign": campaign(
            "world-ip-day", "2019年世界知识产权日宣传活动", "2019-04-20", "2019-04-26", venue
        ),
        "metrics": {
            "boards": metric("展板", "display boards", "块", "boards", 2, target=4),
            "materials": metric(
                "宣传资料",
                "publicity materials",
                "份",
                "copies",
                312,
                target=300,
                previous=250,
                corrections=-12,
            ),
            "consultations": metric("咨询", "consultations", "人次", "people", 615, previous=650),
        },
        "by_day": {"materials": {"2019-04-25": 200, "2019-04-26": 112}},
        "by_venue": {"materials": {venue: 200, "": 112}},
        "corrections": [
            {
                "metric": "materials",
                "quantity": -12,
                "reason": f"重复统计 {HOSTILE}",
                "recorded_by": "王科长",
                "at": "2019-04-26T12:00+08:00",
                "key": "k1",
            }
        ],
    }


def test_chinese_narrative_reads_like_section_seven() -> None:
    text = render(SCI_TECH_WEEK, lang="zh")
    assert text.startswith("2019年鹤壁市科技活动周成果统计（2019年5月19日—26日）\n")
    assert (
        "2019年鹤壁市科技活动周期间（5月19日—26日），组织开展集中宣传活动。"
        "此次活动共组织讲座10多场，培训干部群众数百人，提供法律服务100多次，"
        "发放宣传资料10000余册，参与群众近10000人次，参加活动的单位100多家，"
        "展出展板100多块，经费投入10多万元。"
    ) in text
    # Tables carry the exact figures whatever the narrative says.
    assert "10240" in text and "103000" in text and "9870" in text


def test_one_campaign_in_chinese_and_english() -> None:
    figures = ip_day()
    zh = render(figures, lang="zh")
    assert (
        "2019年世界知识产权日期间（4月20日—26日），在新世纪广场组织开展集中宣传活动。"
        "此次活动共展出展板2块，发放宣传资料300余份，接受群众咨询600余人次。"
        "对照目标，展板完成50%（目标4块），宣传资料完成104%（目标300份）。"
        "与上年同期相比，宣传资料增长24.8%，咨询下降5.4%。"
        "以上数字已计入更正1笔，详见更正记录。"
    ) in zh
    for section in ("主要数据", "按日统计", "按地点统计", "更正记录", "（未注明）", "4月25日"):
        assert section in zh
    en = render(figures, lang="en")
    assert en.startswith("2019年世界知识产权日宣传活动: outcome summary (20–26 April 2019)\n")
    assert (
        "the campaign displayed 2 boards, handed out over 300 copies of publicity materials "
        "and answered consultations from over 600 people."
    ) in en
    assert "publicity materials 104% of the target of 300 copies" in en
    assert "publicity materials up 24.8%; consultations down 5.4%" in en
    assert "The figures include 1 correction, listed separately." in en
    assert "(not given)" in en and "By venue" in en


def test_exact_puts_exact_figures_in_the_narrative() -> None:
    zh = render(ip_day(), lang="zh", exact=True)
    assert "发放宣传资料312份，接受群众咨询615人次" in zh
    assert "300余份" not in zh
    en = render(ip_day(), lang="en", exact=True)
    assert "handed out 312 copies" in en and "615 people" in en
    zh_sci = render(SCI_TECH_WEEK, lang="zh", exact=True)
    assert "培训干部群众350人" in zh_sci and "经费投入10.3万元" in zh_sci


def test_a_digest_and_a_second_version_say_what_they_are() -> None:
    digest = {**ip_day(), "kind": "digest", "day": "2019-04-25"}
    zh = render(digest, lang="zh")
    assert heading(digest, "zh") == "2019年世界知识产权日宣传活动阶段性统计（截至2019年4月25日）"
    assert "截至4月25日，2019年世界知识产权日宣传活动（4月20日—26日）在新世纪广场累计" in zh
    assert "其中当日发放宣传资料200份。" in zh
    assert "On the day itself it handed out 200 copies" in render(digest, lang="en")
    second = {
        **ip_day(),
        "version": 2,
        "changes": {
            "from_version": 1,
            "totals": [{"metric": "materials", "before": 324, "after": 312}],
            "corrections": [],
        },
    }
    assert "本稿为第2版，较第1版：宣传资料由324份调整为312份。" in render(second)
    assert "This is version 2; since version 1: publicity materials 324 → 312." in render(
        second, lang="en"
    )


def test_old_figures_without_the_newer_keys_still_render() -> None:
    figures = ip_day()
    for m in figures["metrics"].values():
        del m["recorded"], m["correction_tallies"]
    del figures["corrections"], figures["kind"]
    assert "300余份" in render(figures, lang="zh")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_escapes_a_hostile_venue_and_title(lang: str) -> None:
    figures = ip_day(venue=HOSTILE)
    figures["campaign"]["title"] = f"宣传周 {HOSTILE}"
    page = render(figures, lang=lang, fmt="html")  # type: ignore[arg-type]
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    parser = _Tags()
    parser.feed(page)
    allowed = {"html", "head", "meta", "body", "h2", "h3", "p", "table", "tr", "th", "td"}
    assert {tag for tag, _ in parser.tags} <= allowed
    # Email clients drop <style> blocks: every style is inline, and nothing else is an attribute.
    assert {name for _, attrs in parser.tags for name, _ in attrs} <= {"style", "charset"}
    assert page.count(HOSTILE.replace("<", "&lt;")[:20]) == 0  # never half-escaped


def test_markdown_shows_user_text_literally() -> None:
    figures = ip_day(venue="A|B <b>*x*</b>")
    page = render(figures, lang="zh", fmt="markdown")
    assert page.startswith("# 2019年世界知识产权日宣传活动成果统计")
    assert "A\\|B \\<b\\>\\*x\\*\\</b\\>" in page
    assert "| 宣传资料 | 312 | 份 | 300 | 104% | 250 | +24.8% | -12 | 4 |" in page


def test_json_tables_chart_series_and_a_years_digest() -> None:
    figures = ip_day()
    assert json.loads(render(figures, fmt="json")) == figures
    headers, rows = table_rows(figures, "en")
    assert headers[:2] == ["Metric", "Total"] and rows[1][:2] == ["publicity materials", "312"]
    series = chart_series(figures)
    assert list(series) == ["宣传资料（份）"] and sum(series["宣传资料（份）"].values()) == 312
    digest = {**figures, "kind": "digest", "day": "2019-04-25"}
    many = render_many("2019年宣传活动阶段性统计", [digest, digest], lang="zh", fmt="html")
    assert many.count("<p ") == 2 and "<script" not in many
    assert "暂无进行中的宣传活动" in render_many("t", [], lang="zh")
