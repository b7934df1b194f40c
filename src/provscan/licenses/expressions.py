"""SPDX licence expressions (``MIT OR Apache-2.0``, ``GPL-2.0-only WITH Classpath-exception-2.0``).

Parsed with ``license-expression`` (the maintained AboutCode parser) for the grammar only: each
licence in the expression is resolved by provscan's own rules (:func:`provscan.licenses.spdx.resolve_license`),
so a deprecated ``GPL-2.0`` stays ``GPL-2.0`` instead of being aliased to ``-only`` (a guess), and an
expression with any operand provscan cannot read stays unrecognized as a whole, visibly.

The resolved id is rendered in a stable form: operands in the order given, canonical case,
upper-case operators, every nested expression in parentheses. Rendering a rendered id gives it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from boolean.boolean import ParseError
from license_expression import (
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
)

_OPERATOR = re.compile(r"(?i)(?:^\(|\s(?:and|or|with)\s)")
_READABLE = {"spdx", "spdx-deprecated", "licenseref", "cc-url"}


def looks_like_expression(text: str) -> bool:
    return _OPERATOR.search(text) is not None


@cache
def _licensing() -> Licensing:
    return Licensing()  # no symbol table: keys are resolved by provscan, not aliased by the library


@cache
def _exceptions() -> dict[str, str]:
    """lower-case exception id -> canonical id, from the SPDX exception list the library ships."""
    from license_expression import get_spdx_licensing

    return {s.key.lower(): s.key for s in get_spdx_licensing().known_symbols.values() if s.is_exception}


def parse(text: str):
    """The expression tree, or None when the text is not a well-formed expression."""
    try:
        return _licensing().parse(text, simple=False)
    except (ExpressionError, ParseError):  # the grammar library (boolean.py) raises its own ParseError
        return None


def render(tree, resolve: Callable[[str], tuple[str, str]]) -> str | None:
    """The canonical text of ``tree``, or None if an operand or exception is not a known licence."""
    if isinstance(tree, LicenseWithExceptionSymbol):
        base = render(tree.license_symbol, resolve)
        exc = _exceptions().get(tree.exception_symbol.key.lower())
        return None if base is None or exc is None else f"{base} WITH {exc}"
    if isinstance(tree, LicenseSymbol):
        license_id, how = resolve(tree.key)
        return license_id if how in _READABLE else None
    parts = []
    for arg in tree.args:
        text = render(arg, resolve)
        if text is None:
            return None
        nested = not isinstance(arg, (LicenseSymbol, LicenseWithExceptionSymbol))  # WITH binds tightest
        parts.append(f"({text})" if nested else text)
    op = " AND " if type(tree).__name__ == "AND" else " OR "
    return op.join(parts)


def decide(tree, leaf: Callable[[str], int]) -> int:
    """The policy's verdict on an expression, as a rank (0 keep, 1 flag, 2 drop).

    AND: every operand applies, so the most restrictive wins. OR: the user of the data may pick
    any alternative, so the most permissive wins (drop only if every alternative is dropped).
    ``X WITH exception``: an exception only adds permissions; the stricter of the rules for the
    whole ``X WITH e`` text and for ``X`` applies.
    """
    if isinstance(tree, LicenseWithExceptionSymbol):
        whole = f"{tree.license_symbol.key} WITH {tree.exception_symbol.key}"
        return max(leaf(whole), leaf(tree.license_symbol.key))
    if isinstance(tree, LicenseSymbol):
        return leaf(tree.key)
    ranks = [decide(arg, leaf) for arg in tree.args]
    return max(ranks) if type(tree).__name__ == "AND" else min(ranks)
