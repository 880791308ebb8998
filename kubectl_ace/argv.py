"""Reading command lines by hand, where argparse is too slow (the hot path) or the flags are not ours (stdlib only).

Both flag forms are read everywhere: `--name=value` and `--name value`.
"""


def flag_values(argv: list[str], names: tuple[str, ...] | set[str]) -> dict[str, str | None]:
    """The last value of each of `names` in argv (None when absent)."""
    found: dict[str, str | None] = dict.fromkeys(names)
    for index, arg in enumerate(argv):
        name, has_value, value = arg.partition("=")
        if name in found:
            found[name] = value if has_value else (argv[index + 1] if index + 1 < len(argv) else None)
    return found


def flag_value(argv: list[str], name: str) -> str | None:
    return flag_values(argv, (name,))[name]


def without_flag(argv: list[str], name: str) -> list[str]:
    """argv with every `name` flag (and its value) left out."""
    result, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            result.append(arg)
    return result


def subcommand_index(argv: list[str], value_flags: tuple[str, ...]) -> int | None:
    """Where the subcommand stands: the first argument that is neither a flag nor the value of one of value_flags."""
    index = 0
    while index < len(argv):
        if not argv[index].startswith("-"):
            return index
        index += 2 if argv[index] in value_flags else 1  # `--store DIR`: DIR is no subcommand, whatever it is called
    return None


def subcommand_at(argv: list[str], word: str, value_flags: tuple[str, ...]) -> int | None:
    """Where `word` stands as the subcommand (only flags, and the values of value_flags, before it), else None."""
    index = subcommand_index(argv, value_flags)
    return index if index is not None and argv[index] == word else None


def subcommand(argv: list[str], value_flags: tuple[str, ...]) -> str | None:
    """The subcommand, or None when there is none."""
    index = subcommand_index(argv, value_flags)
    return None if index is None else argv[index]


def parse(argv: list[str], value_flags: dict[str, str], bool_flags: dict[str, str]) -> tuple[dict, list[str]]:
    """Known flags into {key: value or True}, and what is left over (unknown flags, positionals) in order."""
    options: dict = {}
    rest: list[str] = []
    items = iter(argv)
    for arg in items:
        name, has_value, value = arg.partition("=")
        if name in value_flags:
            if not has_value:
                value = next(items, None)  # type: ignore[assignment]
                if value is None:
                    raise ValueError(f"{name} needs a value")
            options[value_flags[name]] = value
        elif name in bool_flags and not has_value:
            options[bool_flags[name]] = True
        else:
            rest.append(arg)
    return options, rest
