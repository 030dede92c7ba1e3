#!/usr/bin/env python3
"""mkman.py - baton's man(3) pages, generated from the public headers.

    mkman.py --version V --output DIR [--umbrella include/baton.h] HEADER...

The headers' doc comments are the one source: this script writes, into
DIR (created if needed),
  - one page per public function (a declaration starting with BATON_API),
    named after it; its text is the doc comment right above it.  Several
    declarations under one comment (no blank line between them) form one
    page: the first name's page lists every name, the others are .so
    links to it;
  - one page per header, the concept page, from the header's opening
    comment (its Overview), named baton_<header> (baton_queue(3) for
    queue.h), listing the header's functions;
  - baton(3), from the umbrella header, listing every concept page.

Any header that follows the house style gets pages with no change here:
a comment block (/* ... */) right above each BATON_API declaration, and
an opening comment naming the header ("baton/x.h - what it is.").
Inside a comment, a blank comment line separates paragraphs, a line that
starts with "- " starts a list item, and a line indented by a tab or by
two or more extra spaces is shown as code.
"""
import argparse
import pathlib
import re
import sys

COMMENT = re.compile(r"/\*(.*?)\*/", re.S)


def comment_lines(body):
    """The text of a /* ... */ body, without the leading ' * ' gutters."""
    out = []
    for line in body.split("\n"):
        line = re.sub(r"^\s*\*(?!/) ?", "", line, count=1) \
            if re.match(r"^\s*\*(?!/)", line) else line.strip()
        out.append(line.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def roff_escape(text):
    text = text.replace("\\", "\\e")
    text = re.sub(r"(?<![\w])-", r"\\-", text)
    return text


def roff_line(text):
    text = roff_escape(text)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def render(lines):
    """Paragraphs, "- " lists and indented code, as man(7) requests."""
    out = []
    mode = None  # None, 'text', 'item', 'code'
    for i, raw in enumerate(lines):
        code = raw.startswith("\t") or raw.startswith("  ")
        if re.match(r"^(=+|-+)$", raw.strip()) and len(raw.strip()) >= 3:
            continue  # the underline of a heading, emitted below
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if raw.strip() and not code and re.match(r"^(=+|-+)$", nxt) \
                and len(nxt) >= 3:
            if mode == "code":
                out += [".fi", ".in"]
            out.append(".SS " + roff_escape(raw.strip()))
            mode = None
            continue
        if not raw.strip():
            if mode == "code":
                out.append(".fi")
                out.append(".in")
            mode = None
            continue
        if code and mode != "item":
            if mode != "code":
                out += [".PP", ".in +4n", ".nf"]
                mode = "code"
            out.append(roff_line(raw.expandtabs(8).rstrip()[0:]))
            continue
        if mode == "code":
            out += [".fi", ".in"]
            mode = None
        if raw.startswith("- "):
            out += [".IP \\(bu 2"]
            out.append(roff_line(raw[2:].strip()))
            mode = "item"
        elif mode == "item" and raw.startswith("  "):
            out.append(roff_line(raw.strip()))
        else:
            # "Pointers:", "Thread safety:" ... open a paragraph of their own.
            if mode is None or re.match(r"^[A-Z][a-z]+( [a-z]+)?: ", raw):
                out.append(".PP")
            elif mode == "item" and not raw.startswith(" "):
                out.append(".PP")
            out.append(roff_line(raw.strip()))
            mode = "text"
    if mode == "code":
        out += [".fi", ".in"]
    return out


def first_sentence(lines):
    text = " ".join(l.strip() for l in lines if l.strip())
    m = re.match(r"(.+?\.)(\s|$)", text)
    s = m.group(1) if m else text
    return s[:160]


def parse_header(path):
    """(overview lines, [group]) where group = (names, protos, doc lines)."""
    src = path.read_text()
    comments = [(m.start(), m.end(), m.group(1)) for m in COMMENT.finditer(src)]
    overview = comment_lines(comments[0][2]) if comments else []
    groups = []
    for m in re.finditer(r"^BATON_API\b[^;]*;", src, re.M):
        proto = " ".join(m.group(0)[len("BATON_API"):].split())
        name = re.search(r"(\w+)\s*\(", proto)
        if not name:
            continue
        # The comment above: the last one ending before the declaration
        # with no blank line between (other declarations may sit between).
        doc, key = [], None
        for start, end, body in comments:
            if end > m.start():
                break
            gap = src[end:m.start()]
            if "\n\n" not in gap and not gap.strip().startswith("#"):
                doc, key = comment_lines(body), start
        if comments and key == comments[0][0]:
            doc, key = [], None  # the file's opening comment is not a doc
        if groups and key is not None and groups[-1][3] == key:
            groups[-1][0].append(name.group(1))
            groups[-1][1].append(proto)
            continue
        # Typedefs between the comment and the declaration belong to it.
        typedefs = []
        if key is not None:
            between = src[src.index("*/", key) + 2:m.start()]
            typedefs = [" ".join(t.split()) for t in
                        re.findall(r"typedef[^;]*;", between)]
        groups.append([[name.group(1)], typedefs + [proto], doc, key])
    return overview, [(g[0], g[1], g[2]) for g in groups]


def concept_name(path, function_names):
    name = "baton_" + path.stem
    return name + "_h" if name in function_names else name


def page(title, names, summary, synopsis, body, see_also, version):
    out = [f'.TH {title.upper()} 3 "" "baton {version}" "baton manual"',
           ".SH NAME",
           roff_escape(", ".join(names)) + " \\- " + roff_escape(summary),
           ".SH SYNOPSIS", ".nf"]
    out += [roff_line(s) for s in synopsis]
    out += [".fi", ".SH DESCRIPTION"] + body
    if see_also:
        out += [".SH SEE ALSO",
                ",\n".join(f".BR {s} (3)" for s in see_also)]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--umbrella")
    ap.add_argument("headers", nargs="+")
    a = ap.parse_args()
    outdir = pathlib.Path(a.output)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.3"):
        old.unlink()

    umbrella = pathlib.Path(a.umbrella).resolve() if a.umbrella else None
    parsed = [(pathlib.Path(h), *parse_header(pathlib.Path(h)))
              for h in a.headers if pathlib.Path(h).resolve() != umbrella]
    all_functions = {n for _, _, groups in parsed
                     for g in groups for n in g[0]}
    concepts = []
    written = set()

    def write(name, text):
        if name in written:
            sys.exit(f"mkman: two pages named {name}")
        written.add(name)
        (outdir / f"{name}.3").write_text(text)

    for path, overview, groups in parsed:
        include = f"#include <baton/{path.name}>"
        concept = concept_name(path, all_functions)
        # The opening line reads "baton/x.h - what it is."; the rest is
        # the Overview.
        head = overview[0] if overview else ""
        summary = re.sub(r"^\S+\s+-\s+", "", head).strip() or path.name
        summary_lines = [summary]
        rest = overview[1:]
        while rest and rest[0].strip() and not re.match(r"^=+$|^-+$", rest[0]):
            summary_lines.append(rest.pop(0).strip())
        summary = first_sentence([" ".join(summary_lines)])
        body = render(overview[1:])
        body += [".SH FUNCTIONS"]
        for names, _, doc in groups:
            body += [".TP", f".BR {names[0]} (3)",
                     roff_escape(first_sentence(doc) if doc else "")]
        concepts.append((concept, summary))
        write(concept, page(concept, [concept], summary, [include], body,
                            ["baton", "baton_strerror"], a.version))
        for names, protos, doc in groups:
            synopsis = [include, ""] + protos
            body = render(doc) if doc else [".PP", "Undocumented."]
            # The concept page, the functions the text names, strerror.
            see = [concept]
            for ref in re.findall(r"\b(baton_\w+)\b", " ".join(doc)):
                if ref in all_functions and ref not in names + see:
                    see.append(ref)
            if "baton_strerror" not in names + see:
                see.append("baton_strerror")
            write(names[0], page(names[0], names,
                                 first_sentence(doc) if doc else names[0],
                                 synopsis, body, see, a.version))
            for alias in names[1:]:
                write(alias, f".so man3/{names[0]}.3\n")

    if a.umbrella:
        overview = comment_lines(COMMENT.search(
            pathlib.Path(a.umbrella).read_text()).group(1))
        body = render(overview[1:]) + [".SH PAGES"]
        for concept, summary in concepts:
            body += [".TP", f".BR {concept} (3)", roff_escape(summary)]
        body += [".PP", "Every public function has a page of its own, "
                 "named after it; each concept page above lists them."]
        write("baton", page("baton", ["baton"],
                            "C11 futures: strict tasks, shareable futures, "
                            "a blocking queue and an executor",
                            ["#include <baton.h>"], body,
                            [c for c, _ in concepts], a.version))


if __name__ == "__main__":
    main()
