"""The words and dates a story block shows, in the story's own language.

A small hand-written table (English, Arabic, Chinese, French) rather than a
locale library: the email needs a dozen labels, month and weekday names, and
one date pattern per language. Digits stay Latin in every language, and time
zones are always written as an offset from UTC (``UTC+3``, ``UTC−5``), so the
six editions label time the same way whatever their zone's abbreviation.
Independent of the process locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

MINUS: Final = "\u2212"  # a real minus sign in "UTC−5", not a hyphen


@dataclass(frozen=True)
class Locale:
    labels: MappingProxyType[str, str]
    months: tuple[str, ...]
    weekdays: tuple[str, ...]  # Monday first, as date.weekday()
    day_pattern: str  # {d} {month} {y}
    long_pattern: str  # {weekday} {d} {month} {y}
    at: str  # between the date and the time of day


_EN_LABELS = {
    "the_news": "The News",
    "signals": "Signals",
    "sources": "Sources:",
    "updated": "Updated",
    "by": "By",
    "share": "Share this story:",
    "read_more": "Read the full story",
    "learn_more": "Learn more",
    "advertisement": "Advertisement",
    "list_sep": ", ",
    # Visible share labels are short so the row fits a 320 px screen; the long
    # form is the link's accessible name.
    "x": "X",
    "email": "Email",
    "whatsapp": "WhatsApp",
    "linkedin": "LinkedIn",
    "share_x": "Share on X",
    "share_email": "Share by email",
    "share_whatsapp": "Share on WhatsApp",
    "share_linkedin": "Share on LinkedIn",
}

_LOCALES: Final = {
    "en": Locale(
        MappingProxyType(_EN_LABELS),
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        "{d} {month} {y}",
        "{weekday} {d} {month} {y}",
        ", ",
    ),
    "ar": Locale(
        MappingProxyType(
            {
                **_EN_LABELS,
                "the_news": "الخبر",
                "signals": "إشارات",
                "sources": "المصادر:",
                "updated": "آخر تحديث",
                "by": "بقلم",
                "share": "شارك القصة:",
                "read_more": "اقرأ القصة كاملة",
                "learn_more": "اعرف المزيد",
                "advertisement": "إعلان",
                "list_sep": "، ",  # the Arabic comma
                "email": "البريد",
                "whatsapp": "واتساب",
                "linkedin": "لينكدإن",
                "share_x": "شارك على X",
                "share_email": "شارك بالبريد الإلكتروني",
                "share_whatsapp": "شارك على واتساب",
                "share_linkedin": "شارك على لينكدإن",
            }
        ),
        ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"),
        ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
        "{d} {month} {y}",
        "{weekday} {d} {month} {y}",
        "، ",
    ),
    "zh": Locale(
        MappingProxyType(
            {
                **_EN_LABELS,
                "the_news": "新闻",
                "signals": "观察",
                "sources": "来源：",
                "updated": "更新于",
                "by": "作者：",
                "share": "分享：",
                "read_more": "阅读全文",
                "learn_more": "了解更多",
                "advertisement": "广告",
                "list_sep": "、",
                "email": "电子邮件",
                "linkedin": "领英",
                "share_x": "分享到 X",
                "share_email": "通过电子邮件分享",
                "share_whatsapp": "分享到 WhatsApp",
                "share_linkedin": "分享到领英",
            }
        ),
        tuple(f"{n}月" for n in range(1, 13)),
        ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"),
        "{y}年{month}{d}日",
        "{y}年{month}{d}日 {weekday}",
        " ",
    ),
    "fr": Locale(
        MappingProxyType(
            {
                **_EN_LABELS,
                "the_news": "L’essentiel",
                "signals": "Signaux",
                "sources": "Sources :",
                "updated": "Mis à jour le",
                "by": "Par",
                "share": "Partager :",
                "read_more": "Lire l’article",
                "learn_more": "En savoir plus",
                "advertisement": "Publicité",
                "email": "E-mail",
                "share_x": "Partager sur X",
                "share_email": "Partager par e-mail",
                "share_whatsapp": "Partager sur WhatsApp",
                "share_linkedin": "Partager sur LinkedIn",
            }
        ),
        (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        "{d} {month} {y}",
        "{weekday} {d} {month} {y}",
        " à ",
    ),
}


def primary_language(tag: str) -> str:
    return (tag or "en").split("-")[0].split("_")[0].lower()


def locale_for(language: str) -> Locale:
    """The table for a language tag's primary subtag; English when there is none."""
    return _LOCALES.get(primary_language(language), _LOCALES["en"])


def labels_for(language: str) -> MappingProxyType[str, str]:
    return locale_for(language).labels


def long_date(day: date, language: str = "en") -> str:
    """``Sunday 29 November 2026`` (``الأحد 29 نوفمبر 2026``, ``2026年11月29日 星期日``)."""
    loc = locale_for(language)
    return loc.long_pattern.format(
        weekday=loc.weekdays[day.weekday()], d=day.day, month=loc.months[day.month - 1], y=day.year
    )


def zone_label(local: datetime) -> str:
    """``UTC+3``, ``UTC−5``, ``UTC+5:30``: the offset, never an abbreviation (EST beside +03 reads as two systems)."""
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes >= 0 else MINUS}{hours}" + (f":{rest:02d}" if rest else "")


@dataclass(frozen=True)
class LocalTime:
    """An instant as a story's meta line shows it: the date, then the time of day and zone."""

    day: str  # "28 November 2026"
    time: str  # "17:30 UTC+3"
    at: str  # what goes between them

    def __str__(self) -> str:
        return f"{self.day}{self.at}{self.time}"


def local_time(instant: datetime, timezone: str, language: str = "en") -> LocalTime:
    """``instant`` in the region's zone, written in ``language``."""
    local = instant.astimezone(ZoneInfo(timezone))
    loc = locale_for(language)
    day = loc.day_pattern.format(d=local.day, month=loc.months[local.month - 1], y=local.year)
    return LocalTime(day, f"{local:%H:%M} {zone_label(local)}", loc.at)
