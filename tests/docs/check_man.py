#!/usr/bin/env python3
"""check_man.py LIB MANDIR [--ignore-header H]... - every exported symbol has a page.

Reads the dynamic symbol table of the shared library (nm -D
--defined-only) and fails (exit 1, naming each) when an exported symbol has
no page MANDIR/<symbol>.3, when a .so link points at a missing page, or
when groff (groff-base) warns about a page.  Symbols declared in an
--ignore-header (include/baton/testing.h: only fault-injection builds
export them, and it is not installed) are skipped.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("lib")
ap.add_argument("mandir")
ap.add_argument("--ignore-header", action="append", default=[])
a = ap.parse_args()

ignored = set()
for h in a.ignore_header:
    ignored |= set(re.findall(r"^BATON_API\b[^;(]*?(\w+)\s*\(",
                              pathlib.Path(h).read_text(), re.M))

nm = subprocess.run(["nm", "-D", "--defined-only", a.lib], check=True,
                    capture_output=True, text=True).stdout
symbols = sorted({f[2] for f in (l.split() for l in nm.splitlines())
                  if len(f) == 3 and f[1] in "TWDBRVi"} - ignored)
mandir = pathlib.Path(a.mandir)
problems = []
for sym in symbols:
    if not (mandir / f"{sym}.3").is_file():
        problems.append(f"{sym}: exported by {a.lib}, no page {sym}.3")
pages = sorted(mandir.glob("*.3"))
groff = shutil.which("groff")
full = []
for page in pages:
    m = re.match(r"\.so man3/(\S+)$", page.read_text().strip())
    if m and not (mandir / m.group(1)).is_file():
        problems.append(f"{page.name}: links to missing {m.group(1)}")
    elif not m:
        full.append(str(page))
if groff and full:
    # One groff run over every page: its warnings name the file and line.
    r = subprocess.run([groff, "-man", "-ww", "-z"] + full,
                       capture_output=True, text=True)
    if r.returncode != 0 or r.stderr.strip():
        problems.append("groff: " + r.stderr.strip())
for p in problems:
    print("check_man:", p)
print(f"check_man: {len(symbols)} exported symbols, {len(pages)} pages, "
      f"{len(problems)} problems" + ("" if groff else " (no groff: not linted)"))
sys.exit(1 if problems or not symbols else 0)
