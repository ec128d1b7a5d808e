"""Two span trees aligned for the Compare page: spans match by their path of names from the root (the n-th span
of a name under the same parent matches the n-th), so a retried call or an extra tool call shows as a span in one
trace only rather than shifting every row after it."""

from __future__ import annotations

import dataclasses

from spanlite.store.views import SpanNode

SpanPath = tuple[tuple[str, int], ...]  # (name, how many same-named siblings came before it) from the root down


@dataclasses.dataclass(frozen=True)
class AlignedSpan:
    """One row of the comparison: the span in trace A, in trace B, or in both."""

    path: SpanPath
    a: SpanNode | None
    b: SpanNode | None

    @property
    def span(self) -> SpanNode:
        found = self.a or self.b
        assert found is not None  # every row holds a span of one side at least
        return found

    @property
    def depth(self) -> int:
        return len(self.path) - 1

    @property
    def differs(self) -> bool:
        """In one trace only, or in both with another status or token use (durations always differ a little)."""
        if self.a is None or self.b is None:
            return True
        return (self.a.status, tokens(self.a)) != (self.b.status, tokens(self.b))


def tokens(node: SpanNode | None) -> int | None:
    """A span's tokens in and out together, or ``None`` when it reports none."""
    if node is None or (node.input_tokens is None and node.output_tokens is None):
        return None
    return (node.input_tokens or 0) + (node.output_tokens or 0)


def paths(nodes: list[SpanNode]) -> list[SpanPath]:
    """Each span's path, for spans in tree order (``views.span_tree``); a span whose parent is not in the trace
    starts a path of its own, as it is shown as a root."""
    by_id: dict[str, SpanPath] = {}
    seen: dict[tuple[SpanPath, str], int] = {}
    found = []
    for node in nodes:
        parent = by_id.get(node.parent_id, ()) if node.parent_id is not None else ()
        nth = seen.get((parent, node.name), 0)
        seen[(parent, node.name)] = nth + 1
        path = (*parent, (node.name, nth))
        by_id[node.span_id] = path
        found.append(path)
    return found


def align(a: list[SpanNode], b: list[SpanNode]) -> list[AlignedSpan]:
    """A's spans in A's tree order, each with B's span of the same path; a span only in B comes right after the
    span before it in B's own order, so it shows where it happened. Linear in the spans of both."""
    b_paths = paths(b)
    b_by_path = dict(zip(b_paths, b))
    a_paths = paths(a)
    in_a = set(a_paths)
    # B's spans missing from A, grouped under the last span B shares with A before them (None: before any).
    after: dict[SpanPath | None, list[SpanPath]] = {}
    last: SpanPath | None = None
    for path in b_paths:
        if path in in_a:
            last = path
        else:
            after.setdefault(last, []).append(path)
    rows = [AlignedSpan(path, None, b_by_path[path]) for path in after.get(None, [])]
    for path, node in zip(a_paths, a):
        rows.append(AlignedSpan(path, node, b_by_path.get(path)))
        rows.extend(AlignedSpan(extra, None, b_by_path[extra]) for extra in after.get(path, []))
    return rows
