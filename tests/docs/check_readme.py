#!/usr/bin/env python3
"""check_readme.py SRCROOT - the README's C code is code that runs.

Every ```c block in README.md must follow a marker line
    <!-- snippet: tests/readme/FILE.c NAME -->
and equal, line for line, the region of that file between the comments
"/* README: NAME */" and "/* README: end */".  The files are complete
programs that the docs suite builds and runs under valgrind (see
tests/docs/meson.build), so a snippet that leaks, misuses an API or no
longer compiles fails the tests.  Exit 1 with a diff on any mismatch.
"""
import difflib
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
readme = (root / "README.md").read_text().splitlines()
MARK = re.compile(r"^<!-- snippet: (\S+) (\S+) -->$")

problems = checked = 0
marker = None
i = 0
while i < len(readme):
    line = readme[i]
    m = MARK.match(line)
    if m:
        marker = (m.group(1), m.group(2), i + 1)
    elif line.strip() == "```c":
        end = readme.index("```", i + 1)
        block = readme[i + 1:end]
        if marker is None:
            print(f"README.md:{i + 1}: a C block with no snippet marker")
            problems += 1
        else:
            path, name, at = marker
            text = (root / path).read_text().splitlines()
            try:
                start = text.index(f"/* README: {name} */")
                stop = text.index("/* README: end */", start)
            except ValueError:
                print(f"README.md:{at}: {path} has no region '{name}'")
                problems += 1
            else:
                region = text[start + 1:stop]
                if region != block:
                    problems += 1
                    print(f"README.md:{i + 1}: differs from {path} '{name}':")
                    sys.stdout.writelines(
                        l + "\n" for l in difflib.unified_diff(
                            region, block, path, "README.md", lineterm=""))
            checked += 1
        marker = None
        i = end
    elif line.strip():
        marker = None if line.startswith("```") else marker
    i += 1
print(f"check_readme: {checked} C blocks checked, {problems} problems")
sys.exit(1 if problems or checked == 0 else 0)
