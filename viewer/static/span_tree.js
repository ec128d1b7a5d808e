// The Trace page's span tree: one row per span holding both its tree label and its waterfall bar, so the two can
// never drift apart, drawn for the rows in view only (a 10,000-span trace is ~40 rows of DOM). Trace content is
// untrusted: every text goes through textContent or setAttribute, never innerHTML.
//
// Python sends the trace once (ids, names, kinds, depths, times, errors) with three small extras: ``focus`` (a
// span chosen outside the tree, e.g. by a deep link, numbered anew each time: open the tree at it), and
// ``query``/``text_matches`` (what the store found in span inputs and outputs). The tree tells Python two things:
// ``select`` (a span id) and ``search`` (a text to look for in inputs and outputs). Streamlit calls this function
// again with the same parentElement whenever that data changes, so the view is made once per parent and updated
// in place.

const ROW_PX = 26;
const OVERSCAN = 8;
const SEND_DELAY_MS = 120; // arrow keys held down select many rows; ask the server for the last one only
const views = new WeakMap();

export default function spanTree({ data, parentElement, setTriggerValue }) {
  let view = views.get(parentElement);
  if (view === undefined) {
    view = new SpanTreeView(parentElement);
    views.set(parentElement, view);
  }
  view.send = setTriggerValue;
  view.update(typeof data === "string" ? JSON.parse(data) : data);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, title, onClick) {
  const node = el("button", "tool", label);
  node.type = "button";
  node.title = title;
  node.addEventListener("click", onClick);
  return node;
}

function duration(ms) {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

class SpanTreeView {
  constructor(parent) {
    this.root = el("div", "span-tree");
    this.root.dataset.testid = "span-tree";
    this.collapsed = new Set(); // span ids whose children are hidden
    this.selected = -1; // row index
    this.focus = undefined;
    this.textQuery = null; // the last content search answered by the server
    this.textMatchIds = [];
    this.asked = null; // the last content search asked for
    this.matches = [];
    this.matchAt = -1;
    this.pending = null;
    this.trace = null;
    this.buildChrome();
    parent.appendChild(this.root);
  }

  buildChrome() {
    const tools = el("div", "tools");
    this.search = el("input", "search");
    this.search.type = "search";
    this.search.placeholder = "Search spans";
    this.search.title = "Name or kind as you type; Enter also searches inputs and outputs";
    this.search.setAttribute("aria-label", "Search spans");
    this.search.addEventListener("input", () => this.findLocal());
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.onEnter(event.shiftKey ? -1 : 1);
      }
    });
    this.count = el("span", "count");
    this.count.setAttribute("role", "status");
    this.prevButton = button("↑", "Previous match (Shift+Enter)", () => this.step(-1));
    this.prevButton.setAttribute("aria-label", "Previous match");
    this.nextButton = button("↓", "Next match (Enter)", () => this.step(1));
    this.nextButton.setAttribute("aria-label", "Next match");
    this.errorButton = button("Next error", "Select the next span that failed", () => this.nextError());
    const expand = button("Expand all", "Show every span", () => this.setAllCollapsed(false));
    const collapse = button("Collapse all", "Show the top level only", () => this.setAllCollapsed(true));
    tools.append(this.search, this.count, this.prevButton, this.nextButton, this.errorButton, expand, collapse);

    this.legend = el("div", "legend");
    this.legend.setAttribute("aria-label", "Colours by span kind");

    const head = el("div", "row head");
    head.append(el("div", "label", "Span"));
    this.axis = el("div", "axis");
    head.append(this.axis);

    this.scroller = el("div", "scroller");
    this.scroller.tabIndex = 0;
    this.scroller.setAttribute("role", "tree");
    this.scroller.setAttribute("aria-label", "Spans");
    this.spacer = el("div", "spacer");
    this.scroller.append(this.spacer);
    this.scroller.addEventListener("scroll", () => this.schedule());
    this.scroller.addEventListener("keydown", (event) => this.onKey(event));
    this.root.append(tools, this.legend, head, this.scroller);
  }

  update(payload) {
    const keepPlace = payload.trace === this.trace;
    const selectedId = this.selected >= 0 ? this.ids[this.selected] : null;
    const grew = keepPlace && payload.ids.length !== this.ids.length; // a trace still running: more spans
    if (!keepPlace || grew) this.load(payload, keepPlace);
    if (!keepPlace) {
      this.focus = undefined;
      this.asked = null;
      this.search.value = "";
    } else if (selectedId !== null) {
      this.selected = this.index.get(selectedId) ?? -1;
    }
    const [focus, number] = payload.focus; // numbered: going to the same span again is a new focus
    if (number !== this.focus) {
      this.focus = number;
      const row = this.index.get(focus);
      if (row !== undefined) this.select(row, { send: false, center: true });
    }
    if (payload.query !== this.textQuery) {
      this.textQuery = payload.query;
      this.textMatchIds = payload.text_matches || [];
      const q = this.search.value.trim();
      if (q && q === payload.query) {
        const before = this.matches.length;
        this.findLocal();
        if (before === 0 && this.matches.length) this.step(1); // only the content search found something
      }
    } else if (grew && this.search.value.trim()) {
      this.findLocal(); // rows moved: match again
    }
    this.render();
  }

  load(payload, keepPlace) {
    this.trace = payload.trace;
    this.ids = payload.ids;
    this.names = payload.names;
    this.lowerNames = this.names.map((name) => name.toLowerCase());
    this.kinds = payload.kinds;
    this.depth = payload.depth;
    this.start = payload.start;
    this.dur = payload.dur;
    this.tokens = payload.tokens || {};
    this.costs = payload.costs || {};
    this.total = Math.max(payload.total, 1e-6);
    this.colors = payload.colors;
    this.errorColor = payload.error_color;
    const n = this.ids.length;
    this.failed = new Uint8Array(n);
    for (const i of payload.errors) this.failed[i] = 1;
    this.errors = payload.errors.slice().sort((a, b) => a - b);
    this.index = new Map(this.ids.map((id, i) => [id, i]));
    this.parent = new Int32Array(n).fill(-1);
    this.hasChildren = new Uint8Array(n);
    const stack = [];
    for (let i = 0; i < n; i++) {
      while (stack.length && this.depth[stack[stack.length - 1]] >= this.depth[i]) stack.pop();
      if (stack.length) {
        this.parent[i] = stack[stack.length - 1];
        this.hasChildren[this.parent[i]] = 1;
      }
      stack.push(i);
    }
    if (!keepPlace) {
      this.collapsed.clear();
      this.selected = -1;
      this.matches = [];
      this.matchAt = -1;
      this.textQuery = null;
      this.textMatchIds = [];
    }
    this.errorButton.disabled = this.errors.length === 0;
    this.errorButton.textContent = this.errors.length ? `Next error (${this.errors.length})` : "No errors";
    this.errorButton.setAttribute("aria-label", "Next error");
    this.drawLegend();
    this.drawAxis();
    this.computeVisible();
  }

  drawLegend() {
    const present = new Set(this.kinds);
    const items = [];
    for (const [kind, color] of Object.entries(this.colors)) {
      if (!present.has(kind)) continue;
      const item = el("span", "legend-item");
      const chip = el("span", "chip");
      chip.style.background = color;
      item.append(chip, el("span", "", kind));
      items.push(item);
    }
    if (this.errors.length) {
      const item = el("span", "legend-item");
      const chip = el("span", "chip failed");
      chip.style.borderColor = this.errorColor;
      item.append(chip, el("span", "", `error (${this.errors.length})`));
      items.push(item);
    }
    this.legend.replaceChildren(...items);
  }

  drawAxis() {
    const ticks = [];
    for (const fraction of [0, 0.25, 0.5]) {
      const tick = el("span", "tick", duration(this.total * fraction));
      tick.style.left = `${fraction * 100}%`;
      ticks.push(tick);
    }
    const end = el("span", "tick end", duration(this.total));
    ticks.push(end);
    this.axis.replaceChildren(...ticks);
  }

  computeVisible() {
    const visible = [];
    const n = this.ids.length;
    for (let i = 0; i < n; i++) {
      visible.push(i);
      if (this.hasChildren[i] && this.collapsed.has(this.ids[i])) {
        const d = this.depth[i];
        while (i + 1 < n && this.depth[i + 1] > d) i++;
      }
    }
    this.visible = visible;
    this.position = new Int32Array(n).fill(-1);
    visible.forEach((row, at) => (this.position[row] = at));
    this.spacer.style.height = `${visible.length * ROW_PX}px`;
  }

  reveal(row) {
    let changed = false;
    for (let p = this.parent[row]; p >= 0; p = this.parent[p]) {
      changed = this.collapsed.delete(this.ids[p]) || changed;
    }
    if (changed) this.computeVisible();
  }

  toggle(row, collapse) {
    const id = this.ids[row];
    if (collapse) this.collapsed.add(id);
    else this.collapsed.delete(id);
    this.computeVisible();
    this.render();
  }

  setAllCollapsed(collapse) {
    this.collapsed.clear();
    if (collapse) {
      for (let i = 0; i < this.ids.length; i++) if (this.hasChildren[i] && this.depth[i] >= 1) this.collapsed.add(this.ids[i]);
      if (this.selected >= 0) this.reveal(this.selected);
    }
    this.computeVisible();
    this.scrollTo(this.selected, true);
    this.render();
  }

  select(row, { send, center }) {
    this.selected = row;
    this.reveal(row);
    this.scrollTo(row, center);
    this.render();
    if (send) {
      clearTimeout(this.pending);
      const id = this.ids[row];
      this.pending = setTimeout(() => this.send("select", id), SEND_DELAY_MS);
    }
  }

  scrollTo(row, center) {
    if (row < 0 || this.position[row] < 0) return;
    const top = this.position[row] * ROW_PX;
    const height = this.scroller.clientHeight || 400;
    const inView = top >= this.scroller.scrollTop && top + ROW_PX <= this.scroller.scrollTop + height;
    if (!inView || center) this.scroller.scrollTop = Math.max(0, top - height / 2 + ROW_PX / 2);
  }

  findLocal() {
    const q = this.search.value.trim().toLowerCase();
    if (!q) {
      this.matches = [];
      this.matchAt = -1;
    } else {
      const found = new Set();
      if (this.textQuery !== null && this.textQuery.toLowerCase() === q) {
        for (const id of this.textMatchIds) if (this.index.has(id)) found.add(this.index.get(id));
      }
      for (let i = 0; i < this.ids.length; i++) {
        if (this.lowerNames[i].includes(q) || this.kinds[i].toLowerCase().includes(q)) found.add(i);
      }
      this.matches = [...found].sort((a, b) => a - b);
      this.matchAt = this.matches.indexOf(this.selected);
    }
    this.matchSet = new Set(this.matches);
    this.showCount();
    this.render();
  }

  showCount() {
    const q = this.search.value.trim();
    if (!q) this.count.textContent = "";
    else if (this.asked === q && this.textQuery !== q) this.count.textContent = "searching inputs and outputs…";
    else if (!this.matches.length) this.count.textContent = "no match";
    else if (this.matchAt < 0) this.count.textContent = `${this.matches.length} matches`;
    else this.count.textContent = `${this.matchAt + 1} of ${this.matches.length}`;
  }

  onEnter(direction) {
    const q = this.search.value.trim();
    if (!q) return;
    if (q !== this.asked) {
      this.asked = q;
      this.send("search", q); // the store looks in inputs and outputs; its answer arrives as new data
      this.findLocal();
      if (this.matches.length) this.step(direction);
      return;
    }
    this.step(direction);
  }

  step(direction) {
    if (!this.matches.length) return;
    // from the selected span, the next match in tree order (or the previous one), wrapping around
    let at;
    if (direction > 0) {
      at = this.matches.findIndex((row) => row > this.selected);
      if (at < 0) at = 0;
    } else {
      at = -1;
      for (let k = this.matches.length - 1; k >= 0; k--) if (this.matches[k] < this.selected) { at = k; break; }
      if (at < 0) at = this.matches.length - 1;
    }
    this.matchAt = at;
    this.showCount();
    this.select(this.matches[at], { send: true, center: true });
  }

  nextError() {
    if (!this.errors.length) return;
    const next = this.errors.find((row) => row > this.selected) ?? this.errors[0];
    this.select(next, { send: true, center: true });
  }

  onKey(event) {
    if (this.selected < 0) return;
    const at = this.position[this.selected];
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const next = this.visible[Math.min(this.visible.length - 1, Math.max(0, at + (event.key === "ArrowDown" ? 1 : -1)))];
      if (next !== undefined) this.select(next, { send: true, center: false });
    } else if (event.key === "ArrowLeft" && this.hasChildren[this.selected]) {
      this.toggle(this.selected, true);
    } else if (event.key === "ArrowRight" && this.hasChildren[this.selected]) {
      this.toggle(this.selected, false);
    } else {
      return;
    }
    event.preventDefault();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render(true);
    });
  }

  render(scrolled = false) {
    if (!this.visible) return;
    const height = this.scroller.clientHeight || 400;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW_PX) - OVERSCAN);
    const last = Math.min(this.visible.length, Math.ceil((this.scroller.scrollTop + height) / ROW_PX) + OVERSCAN);
    const range = `${first}:${last}`;
    if (scrolled && range === this.drawn) return; // a scroll within the rows drawn (overscan) draws nothing
    this.drawn = range;
    const rows = [];
    for (let at = first; at < last; at++) rows.push(this.drawRow(this.visible[at], at));
    this.spacer.replaceChildren(...rows);
  }

  drawRow(i, at) {
    const row = el("div", "row");
    row.dataset.testid = "span-row";
    row.dataset.spanId = this.ids[i];
    row.setAttribute("role", "treeitem");
    row.setAttribute("aria-level", String(this.depth[i] + 1));
    row.setAttribute("aria-selected", i === this.selected ? "true" : "false");
    row.style.top = `${at * ROW_PX}px`;
    if (i === this.selected) row.classList.add("selected");
    if (this.matchSet && this.matchSet.has(i)) row.classList.add("match");
    if (this.failed[i]) row.classList.add("failed");
    const color = this.colors[this.kinds[i]] || this.colors.UNKNOWN;
    const time = duration(this.dur[i]);
    row.title = `${this.names[i]} · ${this.kinds[i]} · ${time}${this.failed[i] ? " · ERROR" : ""}`;

    const label = el("div", "label");
    label.dataset.testid = "span-label";
    label.style.paddingLeft = `${4 + this.depth[i] * 14}px`;
    if (this.hasChildren[i]) {
      const open = !this.collapsed.has(this.ids[i]);
      row.setAttribute("aria-expanded", open ? "true" : "false");
      const caret = el("button", "caret", open ? "▾" : "▸");
      caret.type = "button";
      caret.setAttribute("aria-label", open ? "Collapse" : "Expand");
      caret.addEventListener("click", (event) => {
        event.stopPropagation();
        this.toggle(i, open);
      });
      label.append(caret);
    } else {
      label.append(el("span", "caret"));
    }
    const badge = el("span", "badge", this.kinds[i]);
    badge.style.background = color;
    label.append(badge);
    if (this.failed[i]) {
      const mark = el("span", "error-mark", "!");
      mark.style.background = this.errorColor;
      mark.setAttribute("aria-label", "error");
      label.append(mark);
    }
    label.append(el("span", "name", this.names[i]));
    const meta = [this.tokens[i], this.costs[i], time].filter(Boolean).join(" · ");
    label.append(el("span", "meta", meta));

    const track = el("div", "track");
    const bar = el("div", "bar");
    bar.dataset.testid = "span-bar";
    bar.style.left = `${(this.start[i] / this.total) * 100}%`;
    bar.style.width = `${Math.max((this.dur[i] / this.total) * 100, 0.4)}%`;
    bar.style.background = color;
    if (this.failed[i]) bar.style.outlineColor = this.errorColor;
    track.append(bar);
    row.append(label, track);
    row.addEventListener("click", () => {
      this.scroller.focus({ preventScroll: true });
      if (i !== this.selected) this.select(i, { send: true, center: false });
    });
    return row;
  }
}
