"""统一社会信用代码 (unified social credit code) validation, GB 32100-2015.

18 characters: registration authority (1), organisation type (1), administrative division
(6 digits), organisation code (9, GB 11714 with its own check character) and the check
character (1) computed modulo 31 over the first 17 characters.
"""
from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, Z, S, V are never used
WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


class InvalidUSCC(ValueError):
    """The code is not a valid 统一社会信用代码; ``str(exc)`` says why, in Chinese."""


def check_character(first17: str) -> str:
    total = sum(ALPHABET.index(ch) * w for ch, w in zip(first17, WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def normalize(code: str) -> str:
    return (code or "").strip().upper()


def validate(code: str) -> str:
    """Return the normalized code or raise :class:`InvalidUSCC` with the reason."""
    code = normalize(code)
    if len(code) != 18:
        raise InvalidUSCC(f"统一社会信用代码应为18位，当前为{len(code)}位")
    for pos, ch in enumerate(code, start=1):
        if ch not in ALPHABET:
            raise InvalidUSCC(f"统一社会信用代码第{pos}位“{ch}”不是允许的字符（不使用I、O、Z、S、V）")
    if not code[2:8].isdigit():
        raise InvalidUSCC("统一社会信用代码第3–8位应为行政区划码（6位数字）")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidUSCC(f"统一社会信用代码校验位错误：第18位应为“{expected}”，实际为“{code[17]}”")
    return code


def is_valid(code: str) -> bool:
    try:
        validate(code)
    except InvalidUSCC:
        return False
    return True


def make(prefix17: str) -> str:
    """Complete a 17-character prefix with its check character (demo data, tests)."""
    prefix17 = normalize(prefix17)
    return prefix17 + check_character(prefix17)
