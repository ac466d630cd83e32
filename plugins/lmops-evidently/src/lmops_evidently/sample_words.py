"""The words synthetic inference logs are made of, for this plugin's tests and benchmark.

Shared so that the test windows and the benchmark's windows speak the same
language: English words drawn from :data:`WORDS`, Chinese ones from :data:`ZH`.
"""

from __future__ import annotations

WORDS: tuple[str, ...] = (
    "the",
    "model",
    "answers",
    "questions",
    "about",
    "weather",
    "travel",
    "cooking",
    "music",
    "history",
    "science",
    "sport",
    "garden",
    "books",
    "films",
    "cities",
    "rivers",
    "mountains",
    "coffee",
    "trains",
    "maps",
    "code",
    "data",
)
"""English words of the test windows (the benchmark adds a few more)."""

ZH = "你好世界数据模型天气旅行音乐历史科学城市河流山脉咖啡火车地图代码"
"""Chinese characters of the windows' Chinese texts, one word each."""
