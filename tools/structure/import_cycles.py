#!/usr/bin/env python3
"""Find import circles between the source files of Rust crates.

    python3 tools/structure/import_cycles.py [--max-lines N] [--graph] CRATE_DIR...

For each crate it follows the `mod` declarations from `src/lib.rs` and
`src/main.rs` (honouring `#[path = "…"]`) to learn which file holds which
module, then draws an edge A -> B when file A names something in module file B:

* `use crate::b::…`, `crate::b::…` in code, `super::…`, `self::…`;
* a path starting with a child module's name (`commands::eval::run` in main.rs)
  or with a name a `use` bound to a module (`use crate::report::{self, …}`);
* a path through a `pub use` re-export (`crate::Gallery`) is an edge to the
  file holding the re-export (lib.rs, mod.rs), not to the file the item
  comes from;
* calling a `macro_rules!` macro defined in another file of the crate.

A `mod b;` declaration is not an edge, nor is a module's `pub use` of its own
submodules' items (lib.rs's `pub use gallery::Gallery`): that is the facade
that names them, as the declaration does. Its other `use`s and its code are
edges as anywhere else, code that uses a name it re-exports included. Items under `#[cfg(test)]` (the
`mod tests { … }` blocks, test-only files) are left out: a file's tests are
that file. Comments, doc links and string literals are ignored.

It prints every strongly connected component of more than one file, with the
edges inside it, and exits 1 if there is any. Files with more than 600 lines
of non-test code are printed as warnings; `--max-lines N` makes files over N
lines an error too (exit 1).
"""

import argparse
import re
import sys
from pathlib import Path

DEFAULT_LINE_WARNING = 600


# --- Tokens ------------------------------------------------------------------

class Token:
    __slots__ = ("kind", "text", "line")

    def __init__(self, kind, text, line):
        self.kind, self.text, self.line = kind, text, line  # kind: ident, str, punct

    def __repr__(self):
        return f"{self.text}@{self.line}"


IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*")
CHAR_LITERAL = re.compile(r"b?'(?:\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'\n])'")
RAW_STRING = re.compile(r'(?:b|c)?r(#*)"')
NUMBER = re.compile(r"[0-9][0-9A-Za-z_]*")


def tokenize(text):
    """Identifiers, string literals and punctuation, with their line numbers;
    comments and whitespace dropped. `::` and `$crate` are single tokens."""
    tokens, i, line, n = [], 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            i, line = skip_block_comment(text, i, line)
        elif m := RAW_STRING.match(text, i):
            close = '"' + m.group(1)
            end = text.find(close, m.end())
            end = n if end < 0 else end
            tokens.append(Token("str", text[m.end():end], line))
            line += text.count("\n", i, end)
            i = end + len(close)
        elif c == '"' or (c in "bc" and text.startswith('"', i + 1)):
            start = i + (1 if c == '"' else 2)
            end = start
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            tokens.append(Token("str", text[start:end], line))
            line += text.count("\n", i, end)
            i = end + 1
        elif c in "'b" and (m := CHAR_LITERAL.match(text, i)):
            i = m.end()
        elif m := IDENT.match(text, i):
            tokens.append(Token("ident", m.group().removeprefix("r#"), line))
            i = m.end()
        elif m := NUMBER.match(text, i):
            i = m.end()
        elif text.startswith("::", i):
            tokens.append(Token("punct", "::", line))
            i += 2
        elif c == "$" and (m := IDENT.match(text, i + 1)):
            tokens.append(Token("ident", "$" + m.group(), line))
            i = m.end()
        else:
            tokens.append(Token("punct", c, line))  # includes a lifetime's quote
            i += 1
    return tokens


def skip_block_comment(text, i, line):
    """Skips a (nested) block comment starting at i; returns (end, line)."""
    depth, i = 1, i + 2
    while i < len(text) and depth:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            line += text[i] == "\n"
            i += 1
    return i, line


# --- Items -------------------------------------------------------------------

def attributes_at(tokens, i):
    """The outer attributes starting at i: (list of their token lists, index after them)."""
    attributes = []
    while i + 1 < len(tokens) and tokens[i].text == "#" and tokens[i + 1].text == "[":
        end = matching(tokens, i + 1)
        attributes.append(tokens[i + 2:end])
        i = end + 1
    return attributes, i


def matching(tokens, i):
    """Index of the bracket closing the one at i."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    depth = 0
    for j in range(i, len(tokens)):
        if tokens[j].text in pairs:
            depth += 1
        elif tokens[j].text in pairs.values():
            depth -= 1
            if depth == 0:
                return j
    return len(tokens) - 1


def item_end(tokens, i):
    """Index of the last token of the item starting at i (`;` or closing `}`)."""
    depth = 0
    for j in range(i, len(tokens)):
        text = tokens[j].text
        if text in "([{":
            depth += 1
        elif text in ")]}":
            depth -= 1
            if depth == 0 and text == "}":
                return j
        elif text == ";" and depth == 0:
            return j
    return len(tokens) - 1


def is_cfg_test(attribute):
    texts = [t.text for t in attribute]
    return texts[:4] == ["cfg", "(", "test", ")"]


def path_attribute(attributes):
    for attribute in attributes:
        if len(attribute) >= 3 and attribute[0].text == "path" and attribute[2].kind == "str":
            return attribute[2].text
    return None


def strip_test_items(tokens):
    """Drops every `#[cfg(test)]` item. Returns (kept tokens, names of
    test-only `mod x;` files, number of lines the test items span)."""
    kept, test_files, test_lines, i = [], set(), 0, 0
    while i < len(tokens):
        attributes, after = attributes_at(tokens, i)
        if not any(is_cfg_test(a) for a in attributes):
            kept.extend(tokens[i:after] if after > i else [tokens[i]])
            i = max(after, i + 1)
            continue
        end = item_end(tokens, after)
        texts = [t.text for t in tokens[after:end + 1]]
        if "mod" in texts[:3] and texts[-1] == ";":
            test_files.add(texts[texts.index("mod") + 1])
        test_lines += tokens[end].line - tokens[i].line + 1
        i = end + 1
    return kept, test_files, test_lines


# --- Modules -----------------------------------------------------------------

class SourceFile:
    """One file of the crate: its module path and tokens (test items removed)."""

    def __init__(self, path, module):
        self.path, self.module = path, module
        text = path.read_text(encoding="utf-8")
        self.tokens, self.test_files, test_lines = strip_test_items(tokenize(text))
        self.code_lines = text.count("\n") + (not text.endswith("\n")) - test_lines


def module_declarations(tokens):
    """`mod x;` declarations outside inline modules: (name, #[path] or None)."""
    declarations, depth, i = [], 0, 0
    while i < len(tokens):
        attributes, after = attributes_at(tokens, i)
        if after > i:
            i = after
            continue
        text = tokens[i].text
        depth += (text == "{") - (text == "}")
        if (depth == 0 and text == "mod" and i + 2 < len(tokens)
                and tokens[i + 2].text == ";"):
            declarations.append((tokens[i + 1].text, path_attribute(preceding_attributes(tokens, i))))
        i += 1
    return declarations


def preceding_attributes(tokens, i):
    """The attributes written before the item keyword at i (skipping `pub(…)`)."""
    j = i - 1
    while j >= 0 and tokens[j].text in ("pub", ")", "crate", "super", "in", "("):
        j -= 1
    attributes = []
    while j >= 0 and tokens[j].text == "]":
        depth, k = 0, j
        while k >= 0:
            depth += (tokens[k].text == "]") - (tokens[k].text == "[")
            if depth == 0:
                break
            k -= 1
        if k < 1 or tokens[k - 1].text != "#":
            break
        attributes.append(tokens[k + 1:j])
        j = k - 2
    return attributes


def load_crate(crate_dir):
    """Every file reachable from the crate roots by `mod` declarations."""
    files, modules = {}, {}  # path -> SourceFile; module tuple -> [paths]
    src = crate_dir / "src"
    roots = [src / "lib.rs", src / "main.rs", *sorted((src / "bin").glob("*.rs"))]
    pending = [(root, ()) for root in roots if root.is_file()]
    while pending:
        path, module = pending.pop()
        if path in files or not path.is_file():
            continue
        source = files[path] = SourceFile(path, module)
        modules.setdefault(module, []).append(path)
        for name, explicit in module_declarations(source.tokens):
            if name in source.test_files:
                continue
            pending.append((child_file(path, name, explicit), module + (name,)))
    return files, modules


def child_file(parent, name, explicit_path):
    directory = parent.parent
    if explicit_path:
        return directory / explicit_path
    if parent.name not in ("lib.rs", "main.rs", "mod.rs") and parent.parent.name != "bin":
        directory = directory / parent.stem
    if (directory / f"{name}.rs").is_file():
        return directory / f"{name}.rs"
    return directory / name / "mod.rs"


# --- References --------------------------------------------------------------

def inline_modules(source):
    """Inline `mod x { … }` blocks: list of (name, first token, last token)."""
    blocks = []
    for i, token in enumerate(source.tokens[:-2]):
        if token.text == "mod" and source.tokens[i + 2].text == "{":
            blocks.append((source.tokens[i + 1].text, i + 2, matching(source.tokens, i + 2)))
    return blocks


def module_at(source, blocks, i):
    module = source.module
    for name, start, end in blocks:
        if start < i < end:
            module = module + (name,)
    return module


def use_paths(tokens, i):
    """Expands the use tree starting at i: (list of (segments, alias), index after `;`)."""
    paths = []

    def tree(i, prefix):
        segments = list(prefix)
        while i < len(tokens):
            text = tokens[i].text
            if text == "::":
                if not segments:
                    segments.append("::")  # `::name` is always an external crate
                i += 1
            elif text == "{":
                i += 1
                while i < len(tokens) and tokens[i].text != "}":
                    after = tree(i, segments)
                    i = after + 1 if after == i or tokens[after].text == "," else after
                return i + 1
            elif text == "*":
                paths.append((segments + ["*"], None))
                return i + 1
            elif tokens[i].kind == "ident":
                segments.append(text)
                i += 1
                if i < len(tokens) and tokens[i].text == "as":
                    paths.append((segments, tokens[i + 1].text))
                    return i + 2
                if i >= len(tokens) or tokens[i].text != "::":
                    paths.append((segments, None))
                    return i
            else:
                return i
        return i

    while i < len(tokens) and tokens[i].text != ";":
        i = tree(i, [])
        if i < len(tokens) and tokens[i].text not in (";",):
            i += 1
    return paths, i + 1


def is_use_item(tokens, i):
    """`use` starting an import (not `impl Trait + use<'a>`)."""
    return (tokens[i].text == "use" and i + 1 < len(tokens)
            and (tokens[i + 1].kind == "ident" or tokens[i + 1].text in ("::", "{")))


def is_public(tokens, i):
    """Whether the item keyword at i is `pub` or `pub(…)`."""
    j = i - 1
    if j >= 0 and tokens[j].text == ")":
        while j >= 0 and tokens[j].text != "(":
            j -= 1
        j -= 1
    return j >= 0 and tokens[j].text == "pub"


def is_below(module, here):
    """Whether `module` is a submodule (at any depth) of `here`."""
    return len(module) > len(here) and module[:len(here)] == here


def code_path(tokens, i):
    """The path `a::b::c` starting at identifier i, stopping at `::<`."""
    segments = [tokens[i].text]
    while (i + 2 < len(tokens) and tokens[i + 1].text == "::"
           and tokens[i + 2].kind == "ident"):
        segments.append(tokens[i + 2].text)
        i += 2
    return segments


def macro_definitions(source):
    tokens = source.tokens
    return {tokens[i + 2].text for i in range(len(tokens) - 2)
            if tokens[i].text == "macro_rules" and tokens[i + 1].text == "!"}


class Resolver:
    """Turns a path, as written in some module, into the file that holds it."""

    def __init__(self, modules):
        self.modules = modules

    def start(self, segments, here, aliases):
        """(module the path starts in, remaining segments), or None if external."""
        first, rest = segments[0], segments[1:]
        if first in ("crate", "$crate"):
            return (), rest
        if first == "self":
            return here, rest
        if first == "super":
            module = here
            while segments and segments[0] == "super":
                module, segments = module[:-1], segments[1:]
            return module, segments
        if here + (first,) in self.modules:
            return here + (first,), rest
        if first in aliases:
            return aliases[first], rest
        return None

    def resolve(self, segments, here, aliases):
        """(target module, whether every segment named a module) or None."""
        started = self.start(segments, here, aliases)
        if started is None:
            return None
        module, rest = started
        rest = [s for s in rest if s != "self"]
        while rest and module + (rest[0],) in self.modules:
            module, rest = module + (rest[0],), rest[1:]
        return module, not rest


def references(source, resolver, macros):
    """The files `source` refers to (itself excluded)."""
    tokens, blocks = source.tokens, inline_modules(source)
    inline = {module_at(source, blocks, start) + (name,) for name, start, _ in blocks}
    known = dict(resolver.modules)
    known.update({module: [source.path] for module in inline})
    resolver = Resolver(known)
    aliases, reexported, targets, i = {}, {}, set(), 0
    while i < len(tokens):
        token, here = tokens[i], module_at(source, blocks, i)
        if is_use_item(tokens, i):
            facade = is_public(tokens, i)
            paths, i = use_paths(tokens, i + 1)
            for segments, alias in paths:
                resolved = resolver.resolve(segments, here, aliases)
                if resolved is None:
                    continue
                module, whole = resolved
                name = alias or [s for s in segments if s != "self"][-1]
                if facade and is_below(module, here):
                    reexported[name] = module  # an edge only once code uses it
                else:
                    targets.update(known[module])
                if whole and name not in ("_", "*"):
                    aliases[name] = module
            continue
        previous = tokens[i - 1].text if i else ""
        if token.kind == "ident" and token.text in reexported and previous != "::":
            targets.update(known[reexported[token.text]])
        if token.kind == "ident" and previous not in ("::", "."):
            if i + 1 < len(tokens) and tokens[i + 1].text == "::":
                resolved = resolver.resolve(code_path(tokens, i), here, aliases)
                if resolved is not None:
                    targets.update(known[resolved[0]])
            elif i + 1 < len(tokens) and tokens[i + 1].text == "!" and token.text in macros:
                targets.update(macros[token.text])
        i += 1
    targets.discard(source.path)
    return targets


# --- Graph -------------------------------------------------------------------

def import_graph(files, modules):
    defined = {}
    for path, source in files.items():
        for name in macro_definitions(source):
            defined.setdefault(name, set()).add(path)
    resolver = Resolver(modules)
    graph = {}
    for path, source in files.items():
        local = macro_definitions(source)
        macros = {name: paths for name, paths in defined.items() if name not in local}
        graph[path] = references(source, resolver, macros)
    return graph


def strongly_connected_components(graph):
    """Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


# --- Report ------------------------------------------------------------------

def check_crate(crate_dir, max_lines, show_graph):
    """Prints the crate's circles and long files; returns True if it passes."""
    files, modules = load_crate(crate_dir)
    if not files:
        print(f"{crate_dir}: no src/lib.rs or src/main.rs", file=sys.stderr)
        return False
    graph = import_graph(files, modules)

    def name(path):
        return str(path.relative_to(crate_dir))

    if show_graph:
        for path in sorted(graph):
            print(f"{crate_dir}: {name(path)} -> {', '.join(sorted(map(name, graph[path]))) or '-'}")
    circles = [c for c in strongly_connected_components(graph) if len(c) > 1]
    for circle in sorted(circles, key=lambda c: sorted(c)):
        print(f"{crate_dir}: import circle of {len(circle)} files:")
        for path in sorted(circle):
            inside = sorted(name(target) for target in graph[path] if target in circle)
            print(f"    {name(path)} -> {', '.join(inside)}")
    too_long = False
    limit = DEFAULT_LINE_WARNING if max_lines is None else max_lines
    for path in sorted(files):
        lines = files[path].code_lines
        if lines > limit:
            level = "warning" if max_lines is None else "error"
            too_long |= max_lines is not None
            print(f"{crate_dir}: {level}: {name(path)} has {lines} lines of non-test code (over {limit})")
    if not circles:
        print(f"{crate_dir}: no import circles ({len(files)} files)")
    return not circles and not too_long


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crates", nargs="+", type=Path, metavar="CRATE_DIR")
    parser.add_argument("--max-lines", type=int, metavar="N",
                        help="fail on files with more than N lines of non-test code "
                             f"(without it, over {DEFAULT_LINE_WARNING} is only a warning)")
    parser.add_argument("--graph", action="store_true", help="also print every file's imports")
    options = parser.parse_args()
    passed = [check_crate(crate, options.max_lines, options.graph) for crate in options.crates]
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
