"""Deterministic topic classifier: the same conversation always gets the same
label, so learning's per-topic statistics stay comparable between runs.

Labels: code, math, creative, quick_question, long_context, general. Rules, in
order: a long conversation is long_context whatever it is about; otherwise the
strongest of code / math / creative signals in the latest user message wins
(ties go to that order); with no signal, a short question is quick_question and
anything else general.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

CODE = "code"
MATH = "math"
CREATIVE = "creative"
QUICK_QUESTION = "quick_question"
LONG_CONTEXT = "long_context"
GENERAL = "general"
TOPICS: tuple[str, ...] = (CODE, MATH, CREATIVE, QUICK_QUESTION, LONG_CONTEXT, GENERAL)


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)


_CODE_WORDS = _words(
    r"python", r"javascript", r"typescript", r"java", r"rust", r"golang", r"kotlin", r"swift",
    r"c\+\+", r"c#", r"sql", r"regex", r"regexp", r"bash", r"shell script", r"html", r"css",
    r"json", r"yaml", r"api", r"function", r"method", r"class", r"variable", r"compile[rsd]?",
    r"debug", r"bug", r"stack ?trace", r"exception", r"segfault", r"refactor", r"unit tests?",
    r"code", r"script", r"algorithm", r"git", r"docker", r"kubernetes", r"endpoint", r"library",
)
# Things that only look like this in source code.
_CODE_SYNTAX = re.compile(
    r"```|\bdef \w+\(|\bfn \w+\(|\bfunc \w+\(|=>|->|::|\w+\(\)|;\s*$|\bimport \w+|#include|"
    r"\b(?:const|let|var) \w+ =|\bSELECT\b.+\bFROM\b|</?\w+>",
    re.MULTILINE,
)
_MATH_WORDS = _words(
    r"solve", r"equations?", r"integral", r"integrate", r"derivative", r"differentiate",
    r"calculate", r"calculus", r"algebra", r"geometry", r"probability", r"theorem", r"prove",
    r"proof", r"matrix", r"matrices", r"vector", r"sqrt", r"square root", r"percent(?:age)?",
    r"factori[sz]e", r"prime", r"logarithm", r"polynomial", r"sum of", r"arithmetic", r"math",
    r"mathematics", r"statistics", r"mean", r"median", r"variance",
)
_MATH_SYNTAX = re.compile(r"\d\s*[-+*/^×÷=<>]\s*\(?\d|[∫∑√π≤≥≠∞]|\b\d+\s*%|\bx\^?\d|\bf\(x\)")
_CREATIVE_WORDS = _words(
    r"poem", r"poetry", r"story", r"stories", r"haiku", r"lyrics", r"song", r"limerick",
    r"fiction", r"novel", r"sonnet", r"fairy tale", r"screenplay", r"script for a", r"imagine",
    r"creative", r"slogan", r"tagline", r"joke", r"riddle", r"fable", r"character", r"plot",
    r"rhyme", r"verse",
)


@dataclass(frozen=True)
class TopicClassifier:
    """Classifies a conversation given as (role, text) pairs."""

    long_context_chars: int = 8000  # all messages together, at or above: long_context
    quick_question_chars: int = 160  # latest user message, at or below: quick_question

    def classify(self, turns: Sequence[tuple[str, str]]) -> str:
        total = sum(len(text) for _, text in turns)
        if total >= self.long_context_chars:
            return LONG_CONTEXT
        latest = next((text for role, text in reversed(turns) if role == "user"), "")
        if not latest and turns:
            latest = turns[-1][1]
        scores = {
            # Syntax weighs more than vocabulary: "class" may be a school class.
            CODE: 2 * len(_CODE_SYNTAX.findall(latest)) + len(_CODE_WORDS.findall(latest)),
            MATH: 2 * len(_MATH_SYNTAX.findall(latest)) + len(_MATH_WORDS.findall(latest)),
            CREATIVE: len(_CREATIVE_WORDS.findall(latest)),
        }
        best = max(scores.values())
        if best > 0:
            # dicts keep insertion order, so ties resolve code > math > creative.
            return next(topic for topic, score in scores.items() if score == best)
        if len(latest.strip()) <= self.quick_question_chars:
            return QUICK_QUESTION
        return GENERAL


def normalise_topic(topic: str) -> str:
    """A caller's topic label as learning stores it: trimmed, lower case, spaces as '_'."""
    return "_".join(topic.strip().lower().split())
