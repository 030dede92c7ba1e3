#!/usr/bin/env python3
"""check_errors.py SRCROOT - keep baton's list of error codes true.

include/baton/common.h lists every negative errno baton returns, and
src/strerror.c's table prints each.  This fails (exit 1, naming the code
and where it appears) when
  - code in src/ or queue/ (comments stripped) returns or assigns a -EXXX
    that common.h does not list, or that baton_strerror cannot print;
  - a public header's doc comment promises a -EXXX common.h does not list;
  - common.h lists a code that no code returns any more.
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
CODE = re.compile(r"(?<![\w-])-(E[A-Z0-9]+)\b")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


common = (root / "include/baton/common.h").read_text()
block = common[common.index("complete list of codes"):common.index("two positive codes")]
listed = set(re.findall(r"^ \*   -(E[A-Z0-9]+)", block, flags=re.M))
printable = set(CODE.findall((root / "src/strerror.c").read_text()))

used = {}
for folder in ("src", "queue"):
    for path in sorted((root / folder).rglob("*.c")):
        if path.name == "strerror.c":  # the table itself
            continue
        for code in CODE.findall(strip_comments(path.read_text())):
            used.setdefault(code, path.relative_to(root))
promised = {}
for path in sorted((root / "include").rglob("*.h")):
    if path.name in ("common.h", "testing.h"):
        continue
    for code in CODE.findall(path.read_text()):
        promised.setdefault(code, path.relative_to(root))

bad = []
for code, where in sorted(used.items()):
    if code not in listed:
        bad.append(f"{where} returns -{code}, missing from common.h's list")
    if code not in printable:
        bad.append(f"{where} returns -{code}, which baton_strerror cannot print")
for code, where in sorted(promised.items()):
    if code not in listed:
        bad.append(f"{where} documents -{code}, missing from common.h's list")
for code in sorted(listed - set(used)):
    bad.append(f"common.h lists -{code}, which nothing in src/ or queue/ returns")
for line in bad:
    print("check_errors:", line)
print(f"check_errors: {len(used)} codes returned, {len(listed)} listed, "
      f"{len(printable)} printable, {len(bad)} problems")
sys.exit(1 if bad else 0)
