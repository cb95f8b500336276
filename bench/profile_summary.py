"""Summary of a py-spy profile (``py-spy record --format raw``: collapsed stacks).

Does: read the stacks ``bench/scim_load.py --profile DIR`` wrote (GIL holder only, so idle time
is not in them; time in C, such as sqlite3 running a statement, counts for its Python caller),
and print the share of samples by where the time is spent itself (the package, or scimbridge
module, and the function of the innermost frame) and by what it was spent under (the share of
samples with a frame of each package or scimbridge module anywhere in the stack, and the
heaviest scimbridge functions inclusively). ``--shares A B …`` prints instead one row per file:
the inclusive share of each named package or module (``scimbridge.store`` covers its modules).
Does not: merge files (pass the one of one server and one scenario to attribute a scenario).

    python bench/profile_summary.py DIR/scimbridge-sqlite-asyncio-1000.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")


def owner(path: str) -> str:
    """The package a frame's file belongs to; a scimbridge module by its dotted path."""
    path = path.replace("\\", "/")
    if "scimbridge/" in path and "site-packages" not in path:
        tail = path.split("scimbridge/", 1)[1]
        return "scimbridge." + tail.removesuffix(".py").replace("/", ".")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    first = path.split("/", 1)[0].removesuffix(".py")
    if path.startswith("<frozen") or "/lib/python3" in path or "/" not in path:
        return f"stdlib:{first}"
    return first


def stacks(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """Each stack of a file as (function, file) frames, outermost first, with its samples."""
    found = []
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            frames = [FRAME.match(f) for f in stack.split(";")]
            found.append(([(m["func"], m["file"]) for m in frames if m], int(count_text)))
    return found


def shares(paths: list[Path], names: list[str]) -> str:
    """One row per file: the share of samples with a frame of each named owner (prefix)."""
    rows = ["| profile | samples | " + " | ".join(f"`{n}`" for n in names) + " |"]
    rows.append("|---|---:|" + "---:|" * len(names))
    for path in paths:
        found = stacks(path)
        total = sum(count for _, count in found) or 1
        cells = []
        for name in names:
            hit = sum(
                count
                for frames, count in found
                if any(owner(file).startswith(name) for _, file in frames)
            )
            cells.append(f"{100 * hit / total:.0f}%")
        rows.append(f"| {path.stem} | {total} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def summarise(path: Path, top: int) -> str:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for parsed, count in stacks(path):
        total += count
        if not parsed:
            continue
        own[owner(parsed[-1][1])] += count
        leaves[f"{owner(parsed[-1][1])}:{parsed[-1][0]}"] += count
        for name in {owner(file) for _, file in parsed}:
            under[name] += count
        seen = {
            f"{owner(file)}:{func}" for func, file in parsed if owner(file).startswith("scimbridge")
        }
        for name in seen:
            functions[name] += count

    def table(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"| {title} | samples | share |", "|---|---:|---:|"]
        rows += [f"| `{k}` | {v} | {100 * v / total:.1f}% |" for k, v in counter.most_common(top)]
        return rows

    return "\n".join(
        [
            f"{path.name}: {total} samples (GIL held)",
            "",
            *table("self time in", own),
            "",
            *table("self time in function", leaves),
            "",
            *table("under (inclusive)", under),
            "",
            *table("scimbridge function (inclusive)", functions),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--shares", nargs="+", metavar="OWNER")
    args = parser.parse_args()
    if args.shares:
        print(shares(args.files, args.shares))
        return
    for path in args.files:
        print(summarise(path, args.top))
        print()


if __name__ == "__main__":
    main()
