"""The fast path of URL canonicalization and expressions, as DuckDB SQL text.

A shard has millions of URLs and ``provscan.urls.canonical.canonicalize`` does ~130 k/s, so DuckDB
canonicalizes the URLs it can prove simple and hands every other row to Python. *Simple* is
chosen so that the canonical form is a substring of the input: http(s), no userinfo, an ASCII
letters/digits/hyphens host whose last label starts with a letter (so never an IP), an optional port,
printable-ASCII path and query whose only '%' are escapes canonicalization keeps, already uppercase,
and no '//' or dot segments. For those, canonicalization is "lowercase host, drop port and trailing
dot, '/' for an empty path, drop the fragment", which is all the SQL does.

Speed notes (DuckDB 2.0), each measured: a whole-value regex test runs on RE2's DFA, but capture
groups over a long path fall back to a slow engine, so the class is tested by one group-free regex
and the parts are cut by positions. DuckDB shares a repeated subexpression only in a plain SELECT
list, not inside a CASE branch, a lambda or ``unnest()``, so the list builders bind their inputs
once (``_let``) and never repeat anything heavy; ``array_to_string`` and ``split_part`` hide a
per-row aggregate or list, so lists are built from ``||``, indexes and NULL-skipping.
This module only builds strings (over the ``raw`` table of :mod:`provscan.pipeline.rows`); running them
is the DuckDB door's job (:mod:`provscan.io.db`).
"""

from __future__ import annotations

from provscan.io.db import sql_literal

__all__ = [
    "SIMPLE_URL_PATTERN",
    "candidate_keys_cte",
    "expression_sha256_sql",
    "fast_parts_sql",
    "path_keys_sql",
    "suffixes_sql",
]

# An escape canonicalization unescapes and escapes again unchanged: bytes <= 0x20 (not %25, whose
# '%' could join the next two characters into a new escape), '#', 0x7f and up; uppercase only.
_KEPT = r"%(?:[01][0-9A-F]|2[03]|7F|[89A-F][0-9A-F])"
_SEG_CHAR = rf"""(?:[!"$&-.0->@-~]|{_KEPT})"""  # printable ASCII but '#', '%', '/', '?'
_NOT_DOT = rf"""(?:[!"$&-,\-0->@-~]|{_KEPT})"""  # the same without '.'
_SEGMENT = rf"(?:{_NOT_DOT}|\.{_NOT_DOT}|\.\.{_SEG_CHAR}){_SEG_CHAR}*"  # never '.' or '..'
SIMPLE_URL_PATTERN = (
    r"[Hh][Tt][Tt][Pp][Ss]?://"  # not (?i:): RE2 folds Unicode, so "httpſ" (U+017F) would match
    r"(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?"  # host; last label starts with a letter
    r"(?::[0-9]*)?"
    rf"(?:(?:/{_SEGMENT})*/?)"  # no '//', no dot segment
    rf"""(?:\?(?:[!"$&-~]|{_KEPT})*)?"""  # query: printable ASCII but '#', '%'
    r"(?s:#.*)?"
)
"""Whole-value (``regexp_full_match``) pattern of the simple class; no capture groups."""


def fast_parts_sql(col: str) -> dict[str, str]:
    """SQL for ``host``, ``path``, ``query`` of the canonical URL in ``col``; all NULL unless simple.

    ``host`` is the verdict: NULL means the slow path. For a simple URL ``query`` is NULL when there
    is no '?', as in ``Canonical``. Parts are cut by character positions, which are NULL for a
    URL that is not simple: that makes every part NULL without a CASE around the shared terms, so
    put the three in one SELECT list and DuckDB runs the regexes once per row.
    """
    ok = f"regexp_full_match({col}, {sql_literal(SIMPLE_URL_PATTERN)})"
    null_unless_ok = f"(CASE WHEN {ok} THEN 0 END)"
    frag = f"strpos({col}, '#')"
    end = f"(coalesce(nullif({frag}, 0), strlen({col}) + 1) + {null_unless_ok})"  # fragment or end
    start = f"(strlen(regexp_extract({col}, '^[^:]*://[^/?#]*')) + 1 + {null_unless_ok})"  # path start
    qmark = f"strpos({col}, '?')"
    stop = f"least(coalesce(nullif({qmark}, 0), {end}), {end})"  # path ends at '?' or the fragment
    # The authority (host[:port]) is cut by positions, not by a capture group: the scheme is http(s),
    # so it starts after the first '://' and ends where the path starts.
    after = f"(strpos({col}, '://') + 3)"
    host = f"split_part(substr({col}, {after}, {start} - {after}), ':', 1)"
    return {
        "host": f"lower(rtrim({host}, '.'))",
        "path": f"(CASE WHEN {stop} = {start} THEN '/' ELSE substr({col}, {start}, {stop} - {start}) END)",
        "query": f"(CASE WHEN {stop} < {end} THEN substr({col}, {stop} + 1, {end} - {stop} - 1) END)",
    }


def _is_ip_sql(host: str) -> str:
    return f"(starts_with({host}, '[') OR regexp_full_match({host}, '[0-9]{{1,3}}(?:\\.[0-9]{{1,3}}){{3}}'))"


def _let(name: str, value: str, body: str, when: str) -> str:
    """``body`` with ``name`` bound to ``value`` (computed once per row), or NULL unless ``when``.

    DuckDB shares repeated subexpressions only in a plain projection, not inside ``unnest()``, a
    CASE branch or a lambda; a lambda over a one-element list computes its input once everywhere.
    Inside, nothing heavy may repeat, so the bodies avoid ``nullif`` (which repeats its argument).
    Lambda parameters start with '_' so that they do not shadow the caller's column names.
    """
    return f"list_transform(CASE WHEN {when} THEN [{value}] END, lambda {name}: {body})[1]"


_UNROLLED_LABELS = 8


def suffixes_sql(host_col: str, min_labels: int) -> str:
    """LIST(VARCHAR) equal to ``urls.host_suffixes(host, min_labels=min_labels)``; NULL for NULL.

    Suffixes are built from the end (``_l[-k] || '.' || ...``) and unrolled up to 7 labels: only
    cheap concatenation, no per-row aggregate. An IP gets no labels. Suffixes of 8 labels or more,
    rare, come from a lambda.
    """
    keep = max(int(min_labels), 1)
    labels = f"string_split(CASE WHEN {_is_ip_sql(host_col)} THEN NULL ELSE {host_col} END, '.')"
    tails, tail = [], None
    for k in range(1, _UNROLLED_LABELS):
        tail = "_l[-1]" if tail is None else f"_l[-{k}] || '.' || {tail}"
        if k >= keep:  # the k-label suffix, if the host has more labels than that
            tails.append(f"CASE WHEN len(_l) > {k} THEN {tail} END")
    first_long = max(keep, _UNROLLED_LABELS)
    longer = (
        f"CASE WHEN len(_l) > {first_long} THEN list_transform(range(len(_l) - 1, {first_long} - 1, -1), "
        f"lambda _k: list_aggr(list_slice(_l, -_k, -1), 'string_agg', '.')) END"
    )
    short = f"list_filter([{', '.join(reversed(tails))}], lambda _s: _s IS NOT NULL)"
    body = f"list_concat([{host_col}], {longer}, {short})"
    return _let("_l", labels, body, f"{host_col} IS NOT NULL")


def expression_sha256_sql(prefix: str = "") -> str:
    """SQL for the SHA-256 of a row's full canonical expression (host + path + ?query): the row's
    ``url_sha256``, its removal-list entry and its fetch-cache key."""
    return (
        f"sha256({prefix}host || {prefix}path || CASE WHEN {prefix}query IS NULL THEN '' ELSE '?' || {prefix}query END)"
    )


def path_keys_sql(rows: str, keys: tuple[int, ...] = (0, 1, 2, 3, 4, 5)) -> str:
    """``(row, host, key)`` for the Safe Browsing path prefixes of the rows in ``rows``.

    Key numbers: 0 ``/``, 1 the exact path, 2 ``path?query``, 3-5 the directory prefixes ``/c1/``,
    ``/c1/c2/``, ``/c1/c2/c3/``, cut with string positions: no lists, no lambdas, which is what
    makes this several times faster than building expression lists per row. A directory prefix
    equal to the whole path is the exact path anyway, so keys form the same set as
    :func:`provscan.urls.canonical.path_prefixes`.
    """
    p1 = "strpos(substr(path, 2), '/')"
    p2 = f"strpos(substr(path, {p1} + 2), '/')"
    p3 = f"strpos(substr(path, {p1} + {p2} + 2), '/')"
    return f"""
        SELECT row, host, CASE i WHEN 0 THEN '/' WHEN 1 THEN path WHEN 2 THEN pq WHEN 3 THEN d1
                                 WHEN 4 THEN d2 ELSE d3 END AS key
        FROM (SELECT row, host, path,
                     CASE WHEN query IS NOT NULL THEN path || '?' || query END AS pq,
                     CASE WHEN {p1} > 0 THEN substr(path, 1, {p1} + 1) END AS d1,
                     CASE WHEN {p1} > 0 AND {p2} > 0 THEN substr(path, 1, {p1} + {p2} + 1) END AS d2,
                     CASE WHEN {p1} > 0 AND {p2} > 0 AND {p3} > 0 THEN substr(path, 1, {p1} + {p2} + {p3} + 1) END AS d3
              FROM {rows}), (SELECT unnest({list(keys)}) AS i) t
        WHERE key IS NOT NULL"""


def candidate_keys_cte(entries: str) -> str:
    """CTEs ending in ``ck(row, h, key)``: for rows on a host with some suffix ``h`` among the entry
    hosts of ``entries`` (a table with ``host`` and ``path`` columns), their path keys.

    A row matches entry (``host``, ``path``) iff ``h = host AND key = path``: two equi-joins, no
    expression strings built. Host suffixes are taken over the shard's distinct hosts.
    """
    return f"""hosts AS (SELECT DISTINCT host FROM raw WHERE host IS NOT NULL),
        cand AS (SELECT hs.host, hs.h
                 FROM (SELECT host, unnest({suffixes_sql('host', 2)}) AS h FROM hosts) hs
                 SEMI JOIN (SELECT DISTINCT host FROM {entries}) u ON u.host = hs.h),
        ck AS (SELECT k.row, cand.h, k.key
               FROM ({path_keys_sql('raw SEMI JOIN (SELECT DISTINCT host FROM cand) c USING (host)')}) k
               JOIN cand USING (host))"""


# The escaped class: what the simple class declines only for its escapes, '//' or '_' in the host.
# Printable ASCII before the fragment, the simple host (plus '_'), an optional port; path and query
# anything printable. It is taken when its decoded path and query are printable ASCII or space
# (so re-escaping only touches '%', '#' and ' ') and contain no dot segment.
ESCAPED_URL_PATTERN = (
    r"[Hh][Tt][Tt][Pp][Ss]?://"  # not (?i:): RE2 folds Unicode, so "httpſ" (U+017F) would match
    r"(?:[A-Za-z0-9_-]+\.)*[A-Za-z][A-Za-z0-9_-]*\.?"
    r"(?::[0-9]*)?"
    r"""(?:[/?][!"$-~]*)?"""
    r"(?s:#.*)?"
)
"""Whole-value pattern of the URLs :func:`escaped_parts_select` may take; no capture groups."""

_DECODE_PASSES = 3  # '%2525' needs 3; deeper nesting is left to Python


def _reescape(text: str) -> str:
    """Canonical escaping of decoded printable ASCII: only '%', '#' and ' ' are escaped."""
    return f"replace(replace(replace({text}, '%', '%25'), '#', '%23'), ' ', '%20')"


def escaped_parts_select(source: str) -> str:
    """``SELECT row, host, path, query`` for the rows of ``source`` (``row``, ``url``) in the escaped class.

    Safe Browsing unescapes the whole URL until nothing changes, then re-escapes bytes <= 0x20,
    >= 0x7f, '#' and '%'. Here the host has no '%', so only the text after the authority (``tail``)
    changes. DuckDB's ``url_decode`` is one pass of ``unquote_to_bytes`` (both hex cases, '+' kept,
    invalid escapes kept); a row is taken only if three passes reach the fixpoint (no escape left),
    the result is valid UTF-8 of printable ASCII or space, and the path has no '.' or '..' segment.
    Then the canonical path is the decoded one with '//' collapsed (what the reference's segment
    walk does when no dot segment exists), split at the first decoded '?', and re-escaped.
    Rows not taken are absent: they stay for the slow path.
    """
    decoded = "tail"
    for _ in range(_DECODE_PASSES):
        decoded = f"try(url_decode({decoded}))"
    return f"""
        SELECT row, host,
               {_reescape("CASE WHEN p = '' THEN '/' ELSE regexp_replace(p, '//+', '/', 'g') END")} AS path,
               {_reescape('q')} AS query
        FROM (SELECT row, host,
                     CASE WHEN qm = 0 THEN d ELSE left(d, qm - 1) END AS p,
                     CASE WHEN qm > 0 THEN substr(d, qm + 1) END AS q
              FROM (SELECT row, host, d, strpos(d, '?') AS qm
                    FROM (SELECT row, lower(rtrim(split_part(substr(url, a, t - a), ':', 1), '.')) AS host,
                                 {decoded} AS d
                          FROM (SELECT row, url, a, t, substr(url, t, e - t) AS tail
                                FROM (SELECT row, url, strpos(url, '://') + 3 AS a,
                                             strpos(url, '://') + 3 + strlen(regexp_extract(substr(url, strpos(url, '://') + 3), '^[^/?#]*')) AS t,
                                             coalesce(nullif(strpos(url, '#'), 0), strlen(url) + 1) AS e
                                      FROM {source}
                                      WHERE regexp_full_match(url, {sql_literal(ESCAPED_URL_PATTERN)}))))
                    WHERE regexp_full_match(d, '[ -~]*') AND NOT regexp_matches(d, '%[0-9A-Fa-f]{{2}}')))
        WHERE NOT regexp_matches(p, '/\\.\\.?(?:/|$)')"""
