"""A small HTML tree for assertions on rendered email (standard library parser only).

Conditional comments (``<!--[if mso]>``) stay comments, as in real clients that
are not Outlook; checks that must see inside them use the raw HTML.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag) and all(node.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return "".join(parts)

    def text_nodes(self) -> Iterator[tuple[Node, str]]:
        """(parent element, text) for every non-blank text node below this one."""
        for child in self.children:
            if isinstance(child, str):
                if child.strip():
                    yield self, child
            else:
                yield from child.text_nodes()

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def style(self) -> dict[str, str]:
        """The inline style as a dict of lower-case property -> value (last one wins)."""
        result: dict[str, str] = {}
        for declaration in self.attrs.get("style", "").split(";"):
            if ":" in declaration:
                name, value = declaration.split(":", 1)
                result[name.strip().lower()] = value.strip()
        return result

    def inherited(self, prop: str) -> str | None:
        """The nearest inline value of ``prop`` on this element or an ancestor."""
        for node in (self, *self.ancestors()):
            if prop in node.style():
                return node.style()[prop]
        return None


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document")
        self.current = self.root
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, parent=self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
