"""Comparing markup built two ways (a template, Python) as a browser shows it."""

from __future__ import annotations

import re


def squeezed(html: str) -> str:
    """The markup with each whitespace run as one space and none between tags (a template's
    indentation and line breaks): what a browser shows the same either way."""
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()
