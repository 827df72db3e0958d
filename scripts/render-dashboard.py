#!/usr/bin/env python3
"""Render a Grafana dashboard's panels from a real Prometheus into a PNG, without Grafana.

    scripts/render-dashboard.py --prometheus http://127.0.0.1:9090 \
        --dashboard dashboards/etcd-rs-cluster.json --minutes 5 \
        --out docs/dashboard-cluster.png [--html page.html] [--rows N]

It reads the dashboard JSON, resolves its template variables the way Grafana would
(`label_values(...)` variables are asked of Prometheus; multi-value "All" becomes the
variable's allValue or a regex of every value; `$__rate_interval` is
max(4 * scrape interval, step + scrape interval), the scrape interval being the one
Prometheus is configured with), runs each panel's target `expr` through
`/api/v1/query_range` over the last N minutes, and writes a self-contained HTML page
(dark theme, panels laid out by `gridPos` on Grafana's 24-column grid, row headers,
time series as inline SVG line charts with legends and axes, stat panels as a big
number). Headless Chromium screenshots that page into the PNG.

Nothing is invented: a panel whose queries return no series (or only NaN) says
"no data", and a query that fails shows Prometheus's error.

Python 3.11 standard library only. Chromium: /usr/bin/chromium (or --chromium).
"""

import argparse
import datetime as dt
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

# Grafana's grid: 24 columns, 30 px cells, 8 px margins.
GRID_COLS = 24
CELL_H = 30
MARGIN = 8
PAGE_PAD = 16
HEADER_H = 64

# Grafana's classic palette.
PALETTE = [
    "#7EB26D", "#EAB839", "#6ED0E0", "#EF843C", "#E24D42", "#1F78C1", "#BA43A9",
    "#705DA0", "#508642", "#CCA300", "#447EBC", "#C15C17", "#890F02", "#0A437C",
    "#6D1F62", "#584477", "#B7DBAB", "#F4D598", "#70DBED", "#F9BA8F", "#F29191",
    "#82B5D8", "#E5A8E2", "#AEA2E0",
]
GREEN = "#73BF69"
RED = "#F2495C"


# ----------------------------------------------------------------------------------
# Prometheus


class PromError(Exception):
    pass


class Prometheus:
    def __init__(self, base, timeout=30.0):
        self.base = base.rstrip("/")
        self.timeout = timeout

    def _call(self, path, params, post=True):
        data = urllib.parse.urlencode(params, doseq=True)
        url = self.base + path
        if post:
            req = urllib.request.Request(
                url, data=data.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            req = urllib.request.Request(url + ("?" + data if data else ""))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as e:
            try:
                body = json.load(e)
            except Exception:
                raise PromError(f"HTTP {e.code} from {path}") from None
        except (urllib.error.URLError, OSError) as e:
            raise PromError(f"cannot reach Prometheus at {self.base}: {e}") from None
        if body.get("status") != "success":
            raise PromError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
        return body["data"]

    def query_range(self, expr, start, end, step):
        return self._call("/api/v1/query_range",
                          {"query": expr, "start": start, "end": end, "step": step})

    def query(self, expr, t):
        return self._call("/api/v1/query", {"query": expr, "time": t})

    def label_values(self, label, match, start, end):
        params = {"start": start, "end": end}
        if match:
            params["match[]"] = match
        return self._call(f"/api/v1/label/{urllib.parse.quote(label)}/values", params,
                          post=False)

    def scrape_interval(self):
        """The global scrape_interval of Prometheus's loaded config, in seconds."""
        data = self._call("/api/v1/status/config", {}, post=False)
        m = re.search(r"^global:\s*\n(?:[ \t]+.*\n)*?[ \t]+scrape_interval:\s*(\S+)",
                      data.get("yaml", ""), re.M)
        return parse_duration(m.group(1)) if m else None


# ----------------------------------------------------------------------------------
# durations and template variables

_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DUR_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
          "y": 31536000}


def parse_duration(text):
    text = text.strip()
    pos, total = 0, 0.0
    for m in _DUR_RE.finditer(text):
        if m.start() != pos:
            raise ValueError(f"bad duration {text!r}")
        total += float(m.group(1)) * _DUR_S[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"bad duration {text!r}")
    return total


def format_duration(seconds):
    """Prometheus duration syntax (1m, 20s, 1m30s, 500ms)."""
    ms = int(round(seconds * 1000))
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out or "0s"


# Grafana's interval rounding (roundInterval in grafana/pkg/tsdb/intervalv2).
_ROUND_STEPS = [
    (0.015, 0.01), (0.035, 0.02), (0.075, 0.05), (0.15, 0.1), (0.35, 0.2), (0.75, 0.5),
    (1.5, 1), (3.5, 2), (7.5, 5), (12.5, 10), (17.5, 15), (25, 20), (45, 30),
    (90, 60), (150, 120), (270, 300), (450, 300), (750, 600), (1050, 900),
    (1500, 1200), (2700, 1800), (5400, 3600), (9000, 7200), (16200, 10800),
    (32400, 21600), (86400, 43200),
]


def round_interval(seconds):
    for limit, value in _ROUND_STEPS:
        if seconds < limit:
            return value
    return 86400


_VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)")


def regex_escape(value):
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", value)


def format_var(values, fmt, is_all, all_value):
    """A variable's text in a query, like Grafana's Prometheus data source does."""
    if is_all and all_value is not None:
        return all_value
    if fmt in (None, "regex"):
        if len(values) == 1:
            return regex_escape(values[0]) if fmt == "regex" or is_all else values[0]
        return "(" + "|".join(regex_escape(v) for v in values) + ")"
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "raw":
        return ",".join(values) if len(values) != 1 else values[0]
    if fmt == "text":
        return " + ".join(values)
    return ",".join(values)


class Variables:
    """Template variables: name -> (values, is_all, allValue). Built-ins are plain."""

    def __init__(self):
        self.vars = {}
        self.builtins = {}
        self.display = []  # (label, shown value) for the page header

    def set(self, name, values, is_all=False, all_value=None):
        self.vars[name] = (list(values), is_all, all_value)

    def interpolate(self, text):
        def sub(m):
            name = m.group(1) or m.group(3) or m.group(5)
            fmt = m.group(2) or m.group(4)
            if name in self.builtins:
                return self.builtins[name]
            if name in self.vars:
                values, is_all, all_value = self.vars[name]
                return format_var(values, fmt, is_all, all_value)
            return m.group(0)
        return _VAR_RE.sub(sub, text)


_LABEL_VALUES_RE = re.compile(r"^\s*label_values\(\s*(?:(.*)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$",
                              re.S)


def resolve_variables(dash, prom, start, end, overrides, datasource_name):
    """Resolve the dashboard's `templating` list in order (later ones may use earlier)."""
    variables = Variables()
    for v in dash.get("templating", {}).get("list", []):
        name = v.get("name")
        vtype = v.get("type")
        label = v.get("label") or name
        if not name:
            continue
        if name in overrides:
            vals = overrides[name].split(",")
            variables.set(name, vals)
            variables.display.append((label, overrides[name]))
            continue
        if vtype == "datasource":
            # The data source is the Prometheus we were given.
            variables.set(name, [datasource_name])
            variables.display.append((label, datasource_name))
            continue
        if vtype in ("constant", "textbox"):
            val = v.get("query", "")
            if isinstance(val, dict):
                val = val.get("query", "")
            variables.set(name, [val])
            if vtype == "textbox":
                variables.display.append((label, val))
            continue
        if vtype == "interval":
            opts = [o.strip() for o in str(v.get("query", "1m")).split(",") if o.strip()]
            cur = (v.get("current") or {}).get("value") or (opts[0] if opts else "1m")
            variables.set(name, [cur])
            variables.display.append((label, cur))
            continue
        options = []
        if vtype == "custom":
            q = v.get("query", "")
            options = [o.split(" : ")[-1].strip() for o in re.split(r"(?<!\\),", q)
                       if o.strip()]
        elif vtype == "query":
            q = v.get("query", "")
            if isinstance(q, dict):
                q = q.get("query", "")
            q = variables.interpolate(q or v.get("definition", ""))
            m = _LABEL_VALUES_RE.match(q)
            if m:
                match, lab = m.group(1), m.group(2)
                try:
                    options = prom.label_values(lab, match.strip() if match else None,
                                                start, end)
                except PromError as e:
                    print(f"variable {name}: {e}", file=sys.stderr)
            else:
                try:
                    res = prom.query(q, end) if q else None
                    if res and res.get("resultType") == "vector":
                        options = sorted({json.dumps(r["metric"], sort_keys=True)
                                          for r in res["result"]})
                except PromError as e:
                    print(f"variable {name}: {e}", file=sys.stderr)
            if v.get("regex"):
                rx = re.compile(v["regex"].strip("/"))
                kept = []
                for o in options:
                    mm = rx.search(o)
                    if mm:
                        kept.append(mm.group(1) if mm.groups() else o)
                options = kept
        sort = v.get("sort", 0)
        if sort in (1, 2):
            options = sorted(set(options), reverse=(sort == 2))
        elif sort in (3, 4):
            def numkey(s):
                m = re.search(r"-?\d+(?:\.\d+)?", s)
                return float(m.group(0)) if m else 0.0
            options = sorted(set(options), key=numkey, reverse=(sort == 4))
        cur = (v.get("current") or {}).get("value")
        is_all = False
        if v.get("includeAll") and (not cur or cur == "$__all" or cur == ["$__all"]):
            is_all = True
            vals = options
            shown = "All"
        elif cur and cur != "$__all":
            vals = cur if isinstance(cur, list) else [cur]
            shown = ",".join(vals)
        else:
            vals = options[:1]
            shown = vals[0] if vals else "(none)"
        if not vals and not (is_all and v.get("allValue")):
            # Grafana would leave the variable empty; a regex that matches nothing
            # keeps the queries valid and their panels honestly empty.
            vals = ["__no_value__"]
        variables.set(name, vals, is_all, v.get("allValue") if is_all else None)
        if v.get("hide", 0) != 2:
            variables.display.append((label, shown))
    return variables


# ----------------------------------------------------------------------------------
# units

_SHORT_SUFFIX = [(1e12, " Tri"), (1e9, " Bil"), (1e6, " Mil"), (1e3, " K"), (1, "")]
_RATE_SUFFIX = {"reqps": " req/s", "ops": " ops/s", "rps": " rd/s", "wps": " wr/s",
                "iops": " io/s", "cps": " c/s", "pps": " p/s", "opm": " ops/min",
                "reqpm": " req/min", "rpm": " rd/min", "wpm": " wr/min"}
_IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
_SI_BYTES = ["B", "kB", "MB", "GB", "TB", "PB"]


def unit_scale(unit, maxabs):
    """(multiplier, suffix) for showing values of this magnitude in this unit."""
    unit = unit or "short"
    if unit == "percent":
        return 1.0, "%"
    if unit == "percentunit":
        return 100.0, "%"
    if unit in ("bytes", "decbytes", "Bps", "binBps", "decBps", "kbytes", "mbytes"):
        base = 1000 if unit.startswith("dec") else 1024
        names = _SI_BYTES if base == 1000 else _IEC
        pre = {"kbytes": 1, "mbytes": 2}.get(unit, 0)
        per_s = "/s" if unit.endswith("ps") else ""
        i = pre
        v = maxabs * base ** pre
        while v >= base and i < len(names) - 1:
            v /= base
            i += 1
        return base ** pre / base ** i, " " + names[i] + per_s
    if unit in ("s", "ms", "us", "µs", "ns"):
        to_s = {"s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}[unit]
        v = maxabs * to_s
        if v == 0:
            pick = (to_s, unit)
        elif v < 1e-6:
            pick = (1e-9, "ns")
        elif v < 1e-3:
            pick = (1e-6, "µs")
        elif v < 1:
            pick = (1e-3, "ms")
        elif v < 60:
            pick = (1, "s")
        elif v < 3600:
            pick = (60, "min")
        elif v < 86400:
            pick = (3600, "hour")
        else:
            pick = (86400, "day")
        return to_s / pick[0], " " + pick[1]
    tail = _RATE_SUFFIX.get(unit, "")
    if unit in ("none", "string"):
        return 1.0, ""
    for size, suffix in _SHORT_SUFFIX:
        if maxabs >= size:
            return 1.0 / size, suffix + tail
    return 1.0, tail


def decimals_for(step):
    """Decimals that show multiples of `step` exactly (0.25 -> 2, 5 -> 0)."""
    if step <= 0 or not math.isfinite(step):
        return 0
    for dec in range(0, 7):
        x = step * 10 ** dec
        if abs(x - round(x)) < 1e-6 * max(1.0, x):
            return dec
    return 6


def format_value(v, unit, decimals=None):
    if v is None or not math.isfinite(v):
        return "NaN" if v is not None and math.isnan(v) else str(v)
    mult, suffix = unit_scale(unit, abs(v))
    x = v * mult
    if decimals is None:
        if abs(x - round(x)) < 1e-9:
            decimals = 0
        elif abs(x) < 10:
            decimals = 2
        elif abs(x) < 100:
            decimals = 1
        else:
            decimals = 0
    return f"{x:.{decimals}f}{suffix}"


def nice_step(span, count):
    raw = span / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag * 1.0000001:
            return m * mag
    return 10 * mag


def y_axis(lo, hi, unit, ticks_wanted):
    """Nice y ticks for the data range [lo, hi]: (ymin, ymax, [(value, label)])."""
    if lo >= 0 and (hi <= 0 or (hi - lo) > 0.25 * hi or unit in ("percent", "percentunit")):
        lo = 0.0
    if hi == lo:
        if hi == 0:
            hi = 1.0
        else:
            pad = abs(hi) * 0.1
            lo, hi = (0.0, hi * 1.2) if lo > 0 else (lo - pad, hi + pad)
    mult, suffix = unit_scale(unit, max(abs(lo), abs(hi)))
    slo, shi = lo * mult, hi * mult
    step = nice_step(shi - slo, ticks_wanted)
    ymin = math.floor(slo / step + 1e-9) * step
    ymax = math.ceil(shi / step - 1e-9) * step
    if ymax <= ymin:
        ymax = ymin + step
    ticks = []
    n = int(round((ymax - ymin) / step))
    for i in range(n + 1):
        t = ymin + i * step
        if abs(t) < step * 1e-6:
            t = 0.0
        value = t / mult
        # Each tick in its own scale, as Grafana does (0 req/s, 500 req/s, 1.0 K req/s).
        tm, tsuf = unit_scale(unit, abs(value))
        dec = decimals_for(step / mult * tm) if value != 0 else 0
        ticks.append((value, f"{value * tm:.{dec}f}{tsuf}"))
    return ymin / mult, ymax / mult, ticks


_X_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
            21600, 43200, 86400]


def x_ticks(start, end, width_px, tz):
    span = end - start
    wanted = max(2, int(width_px / 85))
    step = next((s for s in _X_STEPS if span / s <= wanted), _X_STEPS[-1])
    first = math.ceil(start / step) * step
    fmt = "%H:%M:%S" if step < 60 else "%H:%M"
    ticks = []
    t = first
    while t <= end + 1e-6:
        ticks.append((t, dt.datetime.fromtimestamp(t, tz).strftime(fmt)))
        t += step
    return ticks


# ----------------------------------------------------------------------------------
# panels


def legend_name(fmt, metric, expr):
    if fmt and fmt != "__auto":
        return re.sub(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}",
                      lambda m: metric.get(m.group(1), ""), fmt)
    name = metric.get("__name__", "")
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    if labels:
        return f"{name}{{{labels}}}"
    return name or expr


def to_float(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return float("nan")


def flatten_panels(dash, rows_limit):
    """Top-level panels with collapsed rows' children laid out under their row.

    Returns (panels, grid height in cells)."""
    out = []
    offset = 0
    rows_seen = 0
    top = sorted(dash.get("panels", []),
                 key=lambda p: (p.get("gridPos", {}).get("y", 0),
                                p.get("gridPos", {}).get("x", 0)))
    for p in top:
        gp = dict(p.get("gridPos") or {"x": 0, "y": 0, "w": 12, "h": 8})
        if p.get("type") == "row":
            rows_seen += 1
            if rows_limit is not None and rows_seen > rows_limit:
                break
        gp["y"] = gp.get("y", 0) + offset
        out.append((p, gp))
        if p.get("type") == "row" and p.get("collapsed") and p.get("panels"):
            kids = p["panels"]
            base = min(k.get("gridPos", {}).get("y", 0) for k in kids)
            bottom = 0
            for k in kids:
                kg = dict(k.get("gridPos") or {})
                kg["y"] = kg.get("y", 0) - base + gp["y"] + 1
                bottom = max(bottom, kg["y"] + kg.get("h", 8))
                out.append((k, kg))
            offset += bottom - (gp["y"] + 1)
    height = max((g["y"] + g.get("h", 8) for _, g in out), default=0)
    return out, height


class Ctx:
    def __init__(self, prom, variables, start, end, scrape, width, tz):
        self.prom = prom
        self.variables = variables
        self.start = start
        self.end = end
        self.scrape = scrape
        self.width = width
        self.tz = tz
        self.col_w = (width - 2 * PAGE_PAD - (GRID_COLS - 1) * MARGIN) / GRID_COLS
        self.report = []  # (panel title, note) for panels with no data or errors


def panel_px(ctx, gp):
    x = PAGE_PAD + gp.get("x", 0) * (ctx.col_w + MARGIN)
    y = HEADER_H + gp.get("y", 0) * (CELL_H + MARGIN)
    w = gp.get("w", 12) * ctx.col_w + (gp.get("w", 12) - 1) * MARGIN
    h = gp.get("h", 8) * CELL_H + (gp.get("h", 8) - 1) * MARGIN
    return x, y, w, h


def panel_step(ctx, panel, width_px):
    span = ctx.end - ctx.start
    step = round_interval(span / max(1.0, width_px))
    floor = ctx.scrape
    if panel.get("interval"):
        try:
            floor = max(floor, parse_duration(ctx.variables.interpolate(panel["interval"])
                                              .lstrip(">")))
        except ValueError:
            pass
    return max(step, floor)


def run_targets(ctx, panel, width_px):
    """[(legend, [(t, v)...])], [errors]. Range queries over the window."""
    step = panel_step(ctx, panel, width_px)
    span = ctx.end - ctx.start
    ctx.variables.builtins = {
        "__interval": format_duration(step),
        "__interval_ms": str(int(step * 1000)),
        "__rate_interval": format_duration(max(4 * ctx.scrape, step + ctx.scrape)),
        "__range": format_duration(span),
        "__range_s": str(int(span)),
        "__range_ms": str(int(span * 1000)),
    }
    start = math.floor(ctx.start / step) * step
    end = math.floor(ctx.end / step) * step
    series, errors = [], []
    for t in panel.get("targets", []):
        if t.get("hide") or not t.get("expr"):
            continue
        ds = t.get("datasource") or panel.get("datasource") or {}
        if isinstance(ds, dict) and ds.get("type") not in (None, "prometheus"):
            errors.append(f"data source {ds.get('type')} not rendered")
            continue
        expr = ctx.variables.interpolate(t["expr"])
        try:
            if t.get("instant") and not t.get("range"):
                data = ctx.prom.query(expr, end)
                result = [{"metric": r["metric"], "values": [r["value"]]}
                          for r in data.get("result", [])]
            else:
                data = ctx.prom.query_range(expr, start, end, step)
                result = data.get("result", [])
                if data.get("resultType") == "scalar":
                    result = [{"metric": {}, "values": [result]}]
        except PromError as e:
            errors.append(str(e))
            continue
        for r in result:
            pts = [(float(ts), to_float(v)) for ts, v in r.get("values", [])]
            series.append((legend_name(t.get("legendFormat"), r.get("metric", {}), expr),
                           pts))
    return series, errors, step


def has_data(series):
    return any(math.isfinite(v) for _, pts in series for _, v in pts)


def esc(s):
    return html.escape(str(s), quote=True)


def panel_unit(panel):
    unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
    if not unit and panel.get("type") == "graph":
        unit = ((panel.get("yaxes") or [{}])[0]).get("format")
    return unit or "short"


def render_nodata(msg="No data", errors=()):
    parts = [f'<div class="nodata">{esc(msg)}</div>']
    for e in errors:
        parts.append(f'<div class="err">{esc(e)}</div>')
    return '<div class="center">' + "".join(parts) + "</div>"


def legend_line_count(names, width):
    """Lines a wrapped legend of these names takes (12 px Liberation Sans, estimated)."""
    lines, used = 1, 0.0
    for name in names:
        item = 20 + 6.8 * len(name) + 14
        if used and used + item > width:
            lines += 1
            used = 0.0
        used += item
    return lines


def render_timeseries(ctx, panel, w, h):
    unit = panel_unit(panel)
    custom = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom") or {}
    series, errors, step = run_targets(ctx, panel, w)
    title = panel.get("title", "")
    if not has_data(series):
        ctx.report.append((title, "no data" + (": " + "; ".join(errors) if errors else
                                               (" (only NaN)" if series else ""))))
        return render_nodata(errors=errors)
    if errors:
        ctx.report.append((title, "some queries failed: " + "; ".join(errors)))
    series = [(n, p) for n, p in series if any(math.isfinite(v) for _, v in p)]
    series.sort(key=lambda s: s[0])
    vals = [v for _, pts in series for _, v in pts if math.isfinite(v)]
    lo, hi = min(vals), max(vals)
    # The legend gets at most ~30% of the panel (Grafana scrolls a longer one; a
    # picture cannot): series with non-zero data are listed first, and what does not
    # fit is summed up as "+N more".
    legend = (panel.get("options") or {}).get("legend") or {}
    show_legend = legend.get("showLegend", True) and legend.get("displayMode") != "hidden"
    colors = {name: PALETTE[i % len(PALETTE)] for i, (name, _) in enumerate(series)}
    legend_items, hidden, legend_lines = [], [], 0
    if show_legend:
        nonzero = [n for n, p in series if any(math.isfinite(v) and v != 0 for _, v in p)]
        zero = [n for n, _ in series if n not in set(nonzero)]
        max_lines = max(1, int(0.30 * h / 18))
        ordered = [n for n, _ in series]
        if legend_line_count(ordered, w - 22) > max_lines:
            ordered = nonzero + zero
        for k in range(len(ordered), -1, -1):
            names = ordered[:k]
            more = len(ordered) - k
            if more:
                names = names + [f"+{more} more series" + (" (all zero)" if k >= len(nonzero)
                                                           else "")]
            lines = legend_line_count(names, w - 22)
            if lines <= max_lines or k == 0:
                legend_items = ordered[:k]
                hidden = ordered[k:]
                legend_lines = lines
                break
    plot_h = h - 30 - 22 - legend_lines * 18 - 12
    ymin, ymax, yt = y_axis(lo, hi, unit, max(2, int(plot_h / 38)))
    xt = x_ticks(ctx.start, ctx.end, w - 70, ctx.tz)
    span = ctx.end - ctx.start

    def X(t):
        return (t - ctx.start) / span * 1000.0

    def Y(v):
        return (1.0 - (v - ymin) / (ymax - ymin)) * 1000.0

    span_nulls = custom.get("spanNulls", False)
    gap = 1.5 * step if span_nulls is False else (
        float("inf") if span_nulls is True else float(span_nulls) / 1000.0)
    line_w = max(1.0, float(custom.get("lineWidth", 1))) + 0.5
    fill = float(custom.get("fillOpacity", 0)) / 100.0
    paths = []
    for name, pts in series:
        color = colors[name]
        segs, cur, last_t = [], [], None
        for t, v in pts:
            if not math.isfinite(v) or (last_t is not None and t - last_t > gap + 1e-6):
                if cur:
                    segs.append(cur)
                cur = []
            if math.isfinite(v):
                cur.append((X(t), Y(v)))
                last_t = t
            else:
                last_t = None
        if cur:
            segs.append(cur)
        for seg in segs:
            d = "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in seg)
            if len(seg) == 1:
                d += f" L{seg[0][0] + 0.01:.2f} {seg[0][1]:.1f}"
            if fill > 0 and len(seg) > 1:
                base = Y(max(ymin, min(ymax, 0.0)))
                paths.append(f'<path d="{d} L{seg[-1][0]:.1f} {base:.1f} L{seg[0][0]:.1f} '
                             f'{base:.1f} Z" fill="{color}" fill-opacity="{fill}" '
                             f'stroke="none"/>')
            paths.append(f'<path d="{d}" fill="none" stroke="{color}" '
                         f'stroke-width="{line_w}" stroke-linejoin="round" '
                         f'stroke-linecap="round" vector-effect="non-scaling-stroke"/>')
    widest = max((lab for _, lab in yt), key=len)
    ylabels = "".join(
        f'<span class="yl" style="top:{Y(v) / 10:.2f}%">{esc(lab)}</span>' for v, lab in yt)
    hgrid = "".join(f'<div class="hg" style="top:{Y(v) / 10:.2f}%"></div>' for v, _ in yt)
    vgrid = "".join(f'<div class="vg" style="left:{X(t) / 10:.2f}%"></div>' for t, _ in xt)
    xlabels = "".join(
        f'<span class="xl" style="left:{X(t) / 10:.2f}%">{esc(lab)}</span>' for t, lab in xt)
    legend_html = ""
    if show_legend:
        parts = [f'<span class="li"><i style="background:{colors[name]}"></i>{esc(name)}'
                 '</span>' for name in legend_items]
        if hidden:
            all_zero = all(n not in nonzero for n in hidden)
            parts.append(f'<span class="li more">+{len(hidden)} more series'
                         f'{" (all zero)" if all_zero else ""}</span>')
        legend_html = '<div class="legend">' + "".join(parts) + "</div>"
    return (
        '<div class="chart">'
        f'<div class="yaxis"><span class="yw">{esc(widest)}</span>{ylabels}</div>'
        '<div class="plotcol"><div class="plot">' + hgrid + vgrid +
        '<svg viewBox="0 0 1000 1000" preserveAspectRatio="none">' + "".join(paths) +
        '</svg></div>'
        f'<div class="xaxis">{xlabels}</div></div></div>' + legend_html)


def reduce_values(pts, calc):
    vals = [v for _, v in pts if math.isfinite(v)]
    if not vals:
        return None
    return {"lastNotNull": vals[-1], "last": pts[-1][1] if pts else None,
            "firstNotNull": vals[0], "first": pts[0][1] if pts else None,
            "mean": sum(vals) / len(vals), "max": max(vals), "min": min(vals),
            "sum": sum(vals), "count": len(vals), "range": max(vals) - min(vals),
            "delta": vals[-1] - vals[0], "diff": vals[-1] - vals[0]}.get(calc, vals[-1])


def threshold_color(panel, v):
    steps = (((panel.get("fieldConfig") or {}).get("defaults") or {}).get("thresholds")
             or {}).get("steps")
    if not steps:
        steps = [{"color": "green", "value": None}, {"color": "red", "value": 80}]
    color = steps[0].get("color", "green")
    for s in steps[1:]:
        if s.get("value") is not None and v is not None and v >= s["value"]:
            color = s.get("color", color)
    return {"green": GREEN, "red": RED, "yellow": "#FADE2A", "orange": "#FF9830",
            "blue": "#5794F2", "purple": "#B877D9", "text": "#ccccdc"}.get(color, color)


def render_stat(ctx, panel, w, h):
    unit = panel_unit(panel)
    opts = panel.get("options") or {}
    calc = ((opts.get("reduceOptions") or {}).get("calcs") or ["lastNotNull"])[0]
    text_mode = opts.get("textMode", "auto")
    series, errors, step = run_targets(ctx, panel, w)
    title = panel.get("title", "")
    items = []
    for name, pts in sorted(series, key=lambda s: s[0]):
        v = reduce_values(pts, calc)
        if v is not None:
            items.append((name, v, pts))
    if not items:
        ctx.report.append((title, "no data" + (": " + "; ".join(errors) if errors else "")))
        return render_nodata(errors=errors)
    if errors:
        ctx.report.append((title, "some queries failed: " + "; ".join(errors)))
    n = len(items)
    avail_h = (h - 36) / n
    cells = []
    for name, v, pts in items:
        color = threshold_color(panel, v)
        value_text = format_value(v, unit)
        if text_mode == "name":
            big, small = name, ""
        elif text_mode == "value":
            big, small = value_text, ""
        elif text_mode == "value_and_name" or (text_mode == "auto" and n > 1):
            big, small = value_text, name
        else:
            big, small = value_text, ""
        size = min(avail_h * (0.55 if small else 0.7), 0.92 * (w - 20) / (0.58 * max(1, len(big))),
                   64)
        spark = ""
        if opts.get("graphMode", "area") == "area":
            fin = [(t, x) for t, x in pts if math.isfinite(x)]
            if len(fin) > 1:
                lo = min(x for _, x in fin)
                hi = max(x for _, x in fin)
                lo = 0.0 if lo >= 0 else lo
                rng = (hi - lo) or 1.0
                span = ctx.end - ctx.start
                coords = [((t - ctx.start) / span * 1000, 1000 - (x - lo) / rng * 600)
                          for t, x in fin]
                d = "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in coords)
                spark = (f'<svg class="spark" viewBox="0 0 1000 1000" preserveAspectRatio="none">'
                         f'<path d="{d} L{coords[-1][0]:.1f} 1000 L{coords[0][0]:.1f} 1000 Z" '
                         f'fill="{color}" fill-opacity="0.12" stroke="none"/>'
                         f'<path d="{d}" fill="none" stroke="{color}" stroke-opacity="0.6" '
                         f'stroke-width="1.5" vector-effect="non-scaling-stroke"/></svg>')
        cells.append(
            f'<div class="statcell">{spark}'
            + (f'<div class="statname">{esc(small)}</div>' if small else "")
            + f'<div class="statval" style="color:{color};font-size:{size:.0f}px">'
            f'{esc(big)}</div></div>')
    return '<div class="stat">' + "".join(cells) + "</div>"


def render_panel(ctx, panel, gp):
    x, y, w, h = panel_px(ctx, gp)
    style = f"left:{x:.1f}px;top:{y:.1f}px;width:{w:.1f}px;height:{h:.1f}px"
    ptype = panel.get("type")
    if ptype == "row":
        title = ctx.variables.interpolate(panel.get("title", ""))
        extra = " (collapsed in the dashboard)" if panel.get("collapsed") else ""
        return (f'<div class="row" style="{style}"><span class="chev">&#8964;</span>'
                f'{esc(title)}<span class="dim">{esc(extra)}</span></div>')
    title = ctx.variables.interpolate(panel.get("title", ""))
    if ptype in ("timeseries", "graph"):
        body = render_timeseries(ctx, panel, w, h)
    elif ptype in ("stat", "singlestat", "gauge", "bargauge"):
        body = render_stat(ctx, panel, w, h)
    elif ptype == "text":
        content = (panel.get("options") or {}).get("content", panel.get("content", ""))
        body = f'<div class="text">{esc(content)}</div>'
    else:
        ctx.report.append((title, f"panel type {ptype} not rendered"))
        body = render_nodata(f"{ptype} panel: not rendered by this script")
    return (f'<div class="panel" style="{style}"><div class="ptitle">{esc(title)}</div>'
            f'{body}</div>')


CSS = """
* { box-sizing: border-box; margin: 0; padding: 0; }
html, body { background: #111217; color: #ccccdc;
  font-family: "Liberation Sans", Inter, Roboto, Arial, "DejaVu Sans", sans-serif;
  font-size: 12px; -webkit-font-smoothing: antialiased; }
body { position: relative; overflow: hidden; }
.header { position: absolute; left: 16px; right: 16px; top: 0; height: 56px;
  display: flex; align-items: center; justify-content: space-between;
  border-bottom: 1px solid rgba(204,204,220,0.12); }
.header h1 { font-size: 19px; font-weight: 500; color: #e6e6ef; }
.header h1 .crumb { color: rgba(204,204,220,0.55); font-weight: 400; }
.header .meta { text-align: right; color: rgba(204,204,220,0.7); font-size: 12px;
  line-height: 17px; }
.header .meta b { color: #ccccdc; font-weight: 500; }
.pill { display: inline-block; border: 1px solid rgba(204,204,220,0.2); border-radius: 2px;
  padding: 0 6px; margin-left: 6px; background: #181b1f; }
.row { position: absolute; display: flex; align-items: center; font-size: 15px;
  font-weight: 500; color: #e6e6ef; }
.row .chev { display: inline-block; width: 14px; color: rgba(204,204,220,0.6);
  margin-right: 6px; transform: translateY(-4px); }
.row .dim { color: rgba(204,204,220,0.5); font-weight: 400; margin-left: 8px; }
.panel { position: absolute; background: #181b1f; border: 1px solid rgba(204,204,220,0.12);
  border-radius: 2px; display: flex; flex-direction: column; overflow: hidden; }
.ptitle { height: 30px; flex: none; padding: 0 10px; display: flex; align-items: center;
  font-size: 13px; font-weight: 500; color: #ccccdc; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.chart { flex: 1; min-height: 0; display: flex; padding: 4px 14px 0 8px; }
.yaxis { position: relative; flex: none; padding-right: 8px; margin-bottom: 22px;
  font-size: 11px; color: rgba(204,204,220,0.65); }
.yw { visibility: hidden; white-space: nowrap; }
.yl { position: absolute; right: 8px; transform: translateY(-50%); white-space: nowrap; }
.plotcol { flex: 1; min-width: 0; display: flex; flex-direction: column; }
.plot { flex: 1; position: relative; }
.plot svg { position: absolute; left: 0; top: 0; width: 100%; height: 100%;
  overflow: visible; }
.hg { position: absolute; left: 0; right: 0; border-top: 1px solid rgba(204,204,220,0.09); }
.vg { position: absolute; top: 0; bottom: 0; border-left: 1px solid rgba(204,204,220,0.09); }
.xaxis { position: relative; height: 22px; flex: none; font-size: 11px;
  color: rgba(204,204,220,0.65); }
.xl { position: absolute; top: 5px; transform: translateX(-50%); white-space: nowrap; }
.legend { flex: none; display: flex; flex-wrap: wrap; padding: 2px 10px 8px 12px;
  font-size: 12px; line-height: 18px; color: #ccccdc; }
.li { margin-right: 14px; white-space: nowrap; display: inline-flex; align-items: center; }
.li.more { color: rgba(204,204,220,0.55); }
.li i { display: inline-block; width: 14px; height: 4px; border-radius: 2px;
  margin-right: 6px; }
.center { flex: 1; display: flex; flex-direction: column; align-items: center;
  justify-content: center; padding: 0 12px 12px; text-align: center; }
.nodata { font-size: 14px; color: rgba(204,204,220,0.55); }
.err { margin-top: 6px; font-size: 11px; color: #F2495C; word-break: break-word; }
.stat { flex: 1; display: flex; flex-direction: column; min-height: 0; }
.statcell { flex: 1; position: relative; display: flex; flex-direction: column;
  align-items: center; justify-content: center; min-height: 0; }
.spark { position: absolute; left: 0; right: 0; bottom: 0; width: 100%; height: 100%; }
.statval { position: relative; font-weight: 500; line-height: 1.05; white-space: nowrap; }
.statname { position: relative; font-size: 13px; color: #ccccdc; margin-bottom: 2px; }
.text { padding: 6px 10px; white-space: pre-wrap; }
"""


def build_html(dash, ctx, rows_limit, prom_url):
    panels, grid_h = flatten_panels(dash, rows_limit)
    body = [render_panel(ctx, p, gp) for p, gp in panels]
    page_h = int(HEADER_H + grid_h * (CELL_H + MARGIN) - MARGIN + PAGE_PAD)
    t0 = dt.datetime.fromtimestamp(ctx.start, ctx.tz)
    t1 = dt.datetime.fromtimestamp(ctx.end, ctx.tz)
    span_min = (ctx.end - ctx.start) / 60
    vars_html = "".join(f'<span class="pill">{esc(k)}: <b>{esc(v)}</b></span>'
                        for k, v in ctx.variables.display
                        if k.lower() not in ("data source", "datasource"))
    title = dash.get("title", "dashboard")
    crumb, _, last = title.rpartition(" / ")
    title_html = (f'<span class="crumb">{esc(crumb)} / </span>{esc(last)}' if crumb
                  else esc(title))
    rate_iv = format_duration(max(4 * ctx.scrape, ctx.scrape + ctx.scrape))
    header = (
        '<div class="header">'
        f'<h1>{title_html}</h1>'
        '<div class="meta">'
        f'<div>{vars_html}<span class="pill">last <b>{span_min:g} min</b>: '
        f'{t0:%Y-%m-%d %H:%M:%S} – {t1:%H:%M:%S} {esc(t1.tzname() or "")}</span></div>'
        f'<div>rendered by scripts/render-dashboard.py from Prometheus {esc(prom_url)} '
        f'(scrape {format_duration(ctx.scrape)}, $__rate_interval ≥ {rate_iv}) – '
        'not a Grafana screenshot</div>'
        '</div></div>')
    page = (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f'<body style="width:{ctx.width}px;height:{page_h}px">{header}{"".join(body)}'
        "</body></html>")
    return page, page_h


def screenshot(chromium, html_path, out, width, height):
    user_dir = tempfile.mkdtemp(prefix="render-dashboard-chromium-")
    try:
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               "--force-device-scale-factor=1", f"--user-data-dir={user_dir}",
               f"--window-size={width},{height}", f"--screenshot={os.path.abspath(out)}",
               "file://" + os.path.abspath(html_path)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=180, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            sys.exit(f"chromium failed ({proc.returncode}):\n{proc.stdout}")
    finally:
        shutil.rmtree(user_dir, ignore_errors=True)


def parse_time(text):
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    return dt.datetime.fromisoformat(text).timestamp()


def main():
    ap = argparse.ArgumentParser(
        description="Render a Grafana dashboard's panels from Prometheus into a PNG.")
    ap.add_argument("--prometheus", default="http://127.0.0.1:9090")
    ap.add_argument("--dashboard", required=True, help="Grafana dashboard JSON")
    ap.add_argument("--minutes", type=float, default=5, help="time range: the last N minutes")
    ap.add_argument("--end", help="end of the range (unix seconds or ISO 8601; default now)")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--html", help="also keep the HTML page here")
    ap.add_argument("--rows", type=int, help="render only the first N dashboard rows")
    ap.add_argument("--width", type=int, default=1600, help="page width in px (1600)")
    ap.add_argument("--scrape-interval",
                    help="scrape interval for $__rate_interval (default: Prometheus's)")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                    help="set a template variable (comma-separated for several values)")
    ap.add_argument("--timezone", choices=("local", "utc"), default="local")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()

    with open(args.dashboard) as f:
        dash = json.load(f)
    if "dashboard" in dash and "panels" not in dash:  # an export wrapped for the API
        dash = dash["dashboard"]
    prom = Prometheus(args.prometheus)
    end = parse_time(args.end) if args.end else time.time()
    start = end - args.minutes * 60
    if args.scrape_interval:
        scrape = parse_duration(args.scrape_interval)
    else:
        try:
            scrape = prom.scrape_interval() or 15.0
        except PromError as e:
            sys.exit(str(e))
    overrides = dict(v.split("=", 1) for v in args.var)
    variables = resolve_variables(dash, prom, start, end, overrides, "Prometheus")
    tz = dt.timezone.utc if args.timezone == "utc" else dt.datetime.now().astimezone().tzinfo
    ctx = Ctx(prom, variables, start, end, scrape, args.width, tz)
    page, height = build_html(dash, ctx, args.rows, args.prometheus)

    if args.html:
        html_path = args.html
        with open(html_path, "w") as f:
            f.write(page)
        tmp_html = None
    else:
        fd, tmp_html = tempfile.mkstemp(suffix=".html", prefix="render-dashboard-")
        with os.fdopen(fd, "w") as f:
            f.write(page)
        html_path = tmp_html
    try:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        screenshot(args.chromium, html_path, args.out, args.width, height)
    finally:
        if tmp_html:
            os.unlink(tmp_html)
    for name, value in variables.display:
        print(f"variable {name} = {value}")
    for title, note in ctx.report:
        print(f"panel {title!r}: {note}")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {args.width}x{height})")


if __name__ == "__main__":
    main()
