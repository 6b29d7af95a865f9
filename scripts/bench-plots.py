#!/usr/bin/env python3
"""Plots and tables of a benchmark run (issue 9; docs/benchmarks.md).

Usage: python3 scripts/bench-plots.py RESULTS_DIR OUT_DIR
  RESULTS_DIR  the JSON results of scripts/bench-all.sh: fanout-N.json, etcd-fanout-N.json,
               floor-N.json (N = 100, 500, 1000), initial-sync-100x10000.json, reconnect-1000.json,
               memory-1000.json, churn-500x200x60.json, machine.json
  OUT_DIR      gets
    fanout-cdf.png        per N, CDF of "last agent ACKed" per write (samples_ms): meshrelay, etcd, floor
    fanout-agent-cdf.png  per N, CDF of every agent's own latency (agent_cdf_ms, percentiles 0..100)
    fanout-p99.png        p99 of "last agent ACKed" per N for the three, with issue 9's 50 ms bar
    churn-rss.png         the server's RSS each second of the churn run (rss_samples_bytes), with
                          the +10 % bar
    results.md            the fanout table (ratios to etcd and the floor) and the bars of issue 9

A missing file or a result with "error" shows as "—" or as its error; nothing here fails on it.
Needs matplotlib (pip install matplotlib); draws with the Agg backend (no display).
"""
import json
import math
import os
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("bench-plots.py needs matplotlib: pip install matplotlib", file=sys.stderr)
    sys.exit(2)

SIZES = [100, 500, 1000]
# (label, file prefix, colour)
SYSTEMS = [
    ("meshrelay", "fanout", "tab:blue"),
    ("etcd", "etcd-fanout", "tab:orange"),
    ("floor (plain TLS broadcast)", "floor", "tab:gray"),
]
FANOUT_BAR_MS = 50.0
DASH = "—"


def load(results_dir, name):
    """The JSON object in NAME.json; None if absent; {"error": …} if unreadable or not an object."""
    path = os.path.join(results_dir, name + ".json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return {"error": f"unreadable {name}.json: {e}"}
    if not isinstance(data, dict):
        return {"error": f"{name}.json is not a JSON object"}
    return data


def ok(result):
    return result is not None and "error" not in result


def num(result, key):
    """result[key] as a float, or None if the result, the key or a finite number is missing."""
    if not ok(result):
        return None
    value = result.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def numbers(result, key):
    """result[key] as a list of finite floats (non-numbers dropped); [] if absent."""
    if not ok(result) or not isinstance(result.get(key), list):
        return []
    return [float(v) for v in result[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def why_missing(result):
    if result is None:
        return "not run"
    if "error" in result:
        return "error: " + short(str(result["error"]), 50)
    return "no data"


def short(text, limit):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- plots


def cdf_figure(results, key, as_percentiles, title, xlabel, path):
    """One subplot per N. as_percentiles: the values are the latencies at percentiles 0..100
    (plotted directly); else raw samples, sorted into an empirical CDF."""
    fig, axes = plt.subplots(1, len(SIZES), figsize=(5.4 * len(SIZES), 5.6), squeeze=False)
    for ax, n in zip(axes[0], SIZES):
        drawn = 0
        for label, prefix, colour in SYSTEMS:
            result = results.get((prefix, n))
            values = numbers(result, key)
            if as_percentiles and len(values) >= 2:
                xs = values
                ys = [100.0 * i / (len(values) - 1) for i in range(len(values))]
                ax.plot(xs, ys, color=colour, lw=1.8, label=label)
                drawn += 1
            elif not as_percentiles and values:
                xs = sorted(values)
                ys = [100.0 * (i + 1) / len(xs) for i in range(len(xs))]
                ax.step(xs, ys, where="post", color=colour, lw=1.8,
                        label=f"{label} ({len(xs)} writes)")
                drawn += 1
            else:
                # Keep the legend entry so a missing system is visible, not silently absent.
                ax.plot([], [], color=colour, lw=1.8, ls=":", label=f"{label}: {why_missing(result)}")
        ax.axvline(FANOUT_BAR_MS, color="tab:red", ls="--", lw=1, label="issue 9 bar: 50 ms")
        ax.set_title(f"N = {n} agents / watchers")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("cumulative share (%)")
        ax.set_ylim(0, 101)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        # Below the axes, so it never hides a curve.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False)
        if not drawn:
            ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center", va="center",
                    color="gray")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def p99_figure(results, path):
    fig, ax = plt.subplots(figsize=(9, 5))
    width = 0.8 / len(SYSTEMS)
    top = FANOUT_BAR_MS
    for i, (label, prefix, colour) in enumerate(SYSTEMS):
        labelled = False
        for j, n in enumerate(SIZES):
            result = results.get((prefix, n))
            p99 = num(result, "p99_ms")
            x = j + (i - (len(SYSTEMS) - 1) / 2) * width
            if p99 is None:
                ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=8, color=colour, rotation=90)
                continue
            top = max(top, p99)
            ax.bar(x, p99, width, color=colour, label=None if labelled else label)
            labelled = True
            ax.text(x, p99, f"{p99:.1f}", ha="center", va="bottom", fontsize=8)
    # Systems with no bar at all still get a legend entry.
    handles, labels = ax.get_legend_handles_labels()
    for label, _, colour in SYSTEMS:
        if label not in labels:
            handles.append(plt.Rectangle((0, 0), 1, 1, color=colour))
            labels.append(label + " (no results)")
    handles.append(ax.axhline(FANOUT_BAR_MS, color="tab:red", ls="--", lw=1.2))
    labels.append("issue 9 bar: p99 ≤ 50 ms")
    ax.set_xlim(-0.5, len(SIZES) - 0.5)
    ax.set_xticks(range(len(SIZES)))
    ax.set_xticklabels([f"N = {n}" for n in SIZES])
    ax.set_xlabel("agents (meshrelay, floor) / watchers (etcd)")
    ax.set_ylabel("p99 until the last agent ACKed a write (ms)")
    ax.set_ylim(0, top * 1.15)
    ax.set_title("Fanout p99 per write: meshrelay vs etcd vs floor")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(handles, labels, loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def churn_rss_figure(result, path):
    """RSS of the server each second of the churn run (rss_samples_bytes), with the ±10 % band
    around the first sample that the bar allows."""
    samples = numbers(result, "rss_samples_bytes")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if samples:
        mib_values = [v / 2**20 for v in samples]
        ax.plot(range(len(mib_values)), mib_values, color="tab:blue", lw=1.6, label="server RSS")
        start = mib_values[0]
        ax.axhline(start * 1.10, color="tab:red", ls="--", lw=1.2, label="start + 10 % (issue 9 bar)")
        ax.axhline(start, color="grey", ls=":", lw=1)
        ax.set_ylim(0, max(max(mib_values), start * 1.10) * 1.1)
        ax.legend(loc="lower right", fontsize=9)
    else:
        ax.text(0.5, 0.5, f"no samples: {short(why_missing(result), 80)}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("seconds of writing (one sample per second; the last after the agents drained)")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title("Churn 500 agents × 200 writes/s: server RSS over the run")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- tables


def cell(value, digits=1):
    return DASH if value is None else f"{value:.{digits}f}"


def unit(value, suffix, digits=1):
    """'12.3 ms', or '—' if missing."""
    return DASH if value is None else f"{value:.{digits}f} {suffix}"


def ratio(a, b):
    return DASH if a is None or b is None or b == 0 else f"{a / b:.2f}"


def md(text):
    """Text safe inside a markdown table cell."""
    return short(str(text), 80).replace("|", "\\|")


def mark(met):
    return DASH if met is None else ("✓" if met else "✗")


def fanout_table(results, errors):
    head = ("| N | meshrelay p50 | p99 | max | etcd p50 | p99 | max | floor p50 | p99 "
            "| ours/etcd p99 | ours/floor p99 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for n in SIZES:
        row = [str(n)]
        p99 = {}
        for label, prefix, _ in SYSTEMS:
            result = results.get((prefix, n))
            keys = ["p50_ms", "p99_ms"] + (["max_ms"] if prefix != "floor" else [])
            if result is not None and "error" in result:
                errors.append(f"`{prefix}-{n}`: {result['error']}")
                row += ["error"] + [DASH] * (len(keys) - 1)
            else:
                row += [cell(num(result, k)) for k in keys]
            p99[prefix] = num(result, "p99_ms")
        row += [ratio(p99["fanout"], p99["etcd-fanout"]), ratio(p99["fanout"], p99["floor"])]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def bars_table(results, errors):
    lines = ["| scenario | result | bar (issue 9) | met |", "|---|---|---|---|"]

    def row(name, result, text, bar, met):
        if result is None:
            text, met = "not run", None
        elif "error" in result:
            errors.append(f"`{name}`: {result['error']}")
            text, met = "error: " + md(result["error"]), None
        lines.append(f"| `{name}` | {text} | {bar} | {mark(met)} |")

    # fanout N=1000 against the bar and against etcd
    ours, etcd = results.get(("fanout", 1000)), results.get(("etcd-fanout", 1000))
    p99, etcd_p99 = num(ours, "p99_ms"), num(etcd, "p99_ms")
    met = None
    if p99 is not None:
        if p99 > FANOUT_BAR_MS or (etcd_p99 is not None and p99 > 0.5 * etcd_p99):
            met = False
        elif etcd_p99 is not None:
            met = True
    text = f"p99 {unit(p99, 'ms')}; etcd p99 {unit(etcd_p99, 'ms')} (ours/etcd {ratio(p99, etcd_p99)})"
    row("fanout-1000", ours, text, "p99 ≤ 50 ms and ≤ 0.5× etcd's p99", met)

    r = results.get("initial-sync-100x10000")
    seconds, sent = num(r, "seconds"), num(r, "bytes_sent")
    row("initial-sync-100x10000", r,
        f"{unit(seconds, 's', 2)}, {unit(None if sent is None else sent / 1e6, 'MB')} sent",
        "≤ 3 s", None if seconds is None else seconds <= 3)

    r = results.get("reconnect-1000")
    seconds, resent = num(r, "seconds"), num(r, "resources_resent")
    met = None
    if seconds is not None and resent is not None:
        met = seconds <= 5 and resent == 0
    elif (seconds is not None and seconds > 5) or (resent is not None and resent != 0):
        met = False
    row("reconnect-1000", r, f"{unit(seconds, 's', 2)}, {cell(resent, 0)} resources resent",
        "≤ 5 s and 0 resent", met)

    r = results.get("memory-1000")
    per = num(r, "bytes_per_session")
    kib = None if per is None else per / 1024
    row("memory-1000", r, f"{unit(kib, 'KiB')} per session", "≤ 64 KiB",
        None if kib is None else kib <= 64)

    r = results.get("churn-500x200x60")
    p99 = num(r, "p99_ms")
    start, peak, end = (num(r, k) for k in ("rss_start_bytes", "rss_max_bytes", "rss_end_bytes"))
    growth = None if start in (None, 0) or end is None else (end - start) / start * 100
    samples = numbers(r, "rss_samples_bytes")
    # After the first 10 s: what grows once per-session buffers and caches are warm.
    warm = samples[10] if len(samples) > 11 else None
    warm_growth = None if warm in (None, 0) or end is None else (end - warm) / warm * 100
    met = None
    if p99 is not None and growth is not None:
        met = p99 <= 250 and growth <= 10
    elif (p99 is not None and p99 > 250) or (growth is not None and growth > 10):
        met = False
    row("churn-500x200x60", r,
        f"p99 lag {unit(p99, 'ms')}, {unit(num(r, 'achieved_rate'), 'writes/s')} achieved (200 asked), "
        f"server CPU {unit(num(r, 'server_cpu_percent'), '%')}, RSS {mib(start)} / {mib(peak)} / "
        f"{mib(end)} MiB (start / max / end), growth {unit(growth, '%')}"
        + ("" if warm_growth is None else f" ({unit(warm_growth, '%')} from 10 s to the end)"),
        "p99 ≤ 250 ms and RSS growth (end vs start) ≤ 10 %", met)
    return lines


def mib(nbytes):
    return cell(None if nbytes is None else nbytes / 2**20)


def machine_line(results_dir):
    m = load(results_dir, "machine")
    if not ok(m):
        return None
    parts = [f"{m.get('nproc', '?')} CPU ({m.get('cpu') or '?'})",
             f"{m.get('memory_gib', '?')} GiB", f"Linux {m.get('kernel', '?')}",
             m.get("swift") or "swift ?", m.get("etcd") or "etcd ?",
             f"commit {m.get('commit', '?')}", m.get("date", "?")]
    if "writes" in m:
        parts.append(f"{m['writes']} writes per fanout")
    return "Machine: " + ", ".join(str(p) for p in parts) + "."


def write_markdown(results_dir, results, path):
    errors = []
    out = ["# Benchmark results", "",
           "Generated by `scripts/bench-plots.py` from `results/*.json` (`scripts/bench-all.sh`).", ""]
    machine = machine_line(results_dir)
    if machine:
        out += [machine, ""]
    out += ["## Fanout: meshrelay vs etcd vs the floor", "",
            "Per write, ms until the last agent ACKed it (etcd: the last watcher saw it); the floor is "
            "a trivial mutual-TLS broadcast server (its own process, the same harness). Ratios compare p99s.", ""]
    out += fanout_table(results, errors)
    out += ["", "## The bars of issue 9", ""]
    out += bars_table(results, errors)
    if errors:
        out += ["", "## Errors", ""] + [f"- {' '.join(e.split())}" for e in dict.fromkeys(errors)]
    out += ["", "Plots: `fanout-cdf.png`, `fanout-agent-cdf.png`, `fanout-p99.png`, `churn-rss.png`.", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    results_dir, out_dir = argv[1], argv[2]
    if not os.path.isdir(results_dir):
        print(f"bench-plots.py: no such directory: {results_dir}", file=sys.stderr)
        return 2
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    for _, prefix, _ in SYSTEMS:
        for n in SIZES:
            results[(prefix, n)] = load(results_dir, f"{prefix}-{n}")
    for name in ("initial-sync-100x10000", "reconnect-1000", "memory-1000", "churn-500x200x60"):
        results[name] = load(results_dir, name)

    cdf_figure(results, "samples_ms", False,
               "Fanout: time until the last agent ACKed each write (CDF over writes)",
               "last agent ACKed (ms)", os.path.join(out_dir, "fanout-cdf.png"))
    cdf_figure(results, "agent_cdf_ms", True,
               "Fanout: every agent's own latency per write (CDF over agents × writes)",
               "per-agent latency (ms)", os.path.join(out_dir, "fanout-agent-cdf.png"))
    p99_figure(results, os.path.join(out_dir, "fanout-p99.png"))
    churn_rss_figure(results.get("churn-500x200x60"), os.path.join(out_dir, "churn-rss.png"))
    write_markdown(results_dir, results, os.path.join(out_dir, "results.md"))
    for name in ("fanout-cdf.png", "fanout-agent-cdf.png", "fanout-p99.png", "churn-rss.png", "results.md"):
        print(os.path.join(out_dir, name), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
