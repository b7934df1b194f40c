"""The command-line form of a list: ``[KIND:]PATH[;key=value...]``, one string per ``-b``.

Every setting a list header or a ``[[list]]`` table can carry can be given here too, so two real
lists that share a file name (two ``piracy.txt``) can be told apart without writing a config::

    -b 'domain:mirror-a/piracy.txt;name=piracy-a;action=flag'
    -b 'phash:reported.txt.gz;max_distance=8'

Parsing is from the right: trailing ``;key=value`` segments whose key is a word are options, the
rest is ``[KIND:]PATH`` (see :func:`provscan.lists.files.parse_list_arg` for the kind prefix). A path
that itself contains ``;`` is therefore fine unless a segment after a ``;`` looks like ``key=value``.
Unknown keys are errors: a typo must not silently disable a setting.
"""

from __future__ import annotations

import re
from pathlib import Path

from provscan.config import ListSpec
from provscan.errors import ConfigError
from provscan.kinds import ACTIONS, ALL_KINDS, LIST_SETTINGS, unknown_kind, unknown_setting
from provscan.lists.files import parse_list_arg

LIST_OPTIONS = LIST_SETTINGS
_OPTION = re.compile(r";([A-Za-z_][A-Za-z0-9_]*)=([^;]*)$")


def parse_list_option(arg: str) -> ListSpec:
    """``'domain:a/piracy.txt;name=p2;action=flag'`` -> ``ListSpec(Path('a/piracy.txt'), 'domain', 'p2', 'flag')``."""
    rest, options = arg, {}
    while (m := _OPTION.search(rest)) is not None:
        key, value = m.group(1), m.group(2)
        if key not in LIST_OPTIONS:
            raise ConfigError(f"{arg!r}: {unknown_setting(key)}")
        if key in options:
            raise ConfigError(f"{arg!r}: {key}= given twice")
        if not value:
            raise ConfigError(f"{arg!r}: {key}= needs a value")
        options[key] = value
        rest = rest[: m.start()]
    kind, path = parse_list_arg(rest)
    if "kind" in options:
        if kind is not None and kind != options["kind"]:
            raise ConfigError(f"{arg!r}: kind given twice ({kind} and {options['kind']})")
        kind = options.pop("kind")
        if kind not in ALL_KINDS:
            raise ConfigError(f"{arg!r}: {unknown_kind(kind)}")
    action = options.pop("action", None)
    if action is not None and action not in ACTIONS:
        raise ConfigError(f"{arg!r}: unknown action {action!r} (actions: {', '.join(ACTIONS)})")
    if not path:
        raise ConfigError(f"{arg!r}: no list path")
    name = options.pop("name", None)
    return ListSpec(Path(path), kind=kind, name=name, action=action, params=options)
