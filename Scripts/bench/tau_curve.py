#!/usr/bin/env python3
"""τ against the training budget: a table and an SVG from one training run's logs and the
`fledge eval` reports of some of its checkpoints (standard library only).

    Scripts/bench/tau_curve.py --logs RUN/train/logs \
        --eval 150000=runs/x/eval-150k-mtbench.json --eval 1000000=... \
        --svg docs/tau-curve.svg

The eval-split points (every evaluation of the run: the simulated chain τ and first-position
accuracy on the held-out split) come from the JSONL logs, their x the tokens trained by that
step (the sum of the training records' `tokens`). Each `--eval TOKENS=REPORT` adds MT-bench
points: τ of every mode in the report and the first-position acceptance of its first chain.
A least-squares fit τ = a + b·ln(tokens) over each series predicts the budgets for τ 2.5
and 3 (printed; an extrapolation, as stated in the README).
"""
import argparse
import glob
import json
import math
import os


def read_logs(folder):
    train, evals = [], []
    for path in sorted(glob.glob(os.path.join(folder, "*.jsonl"))):
        for line in open(path):
            record = json.loads(line)
            (train if record.get("kind") == "train" else evals if record.get("kind") == "eval" else []).append(record)
    train.sort(key=lambda r: r["step"])
    cumulative, total = [], 0.0
    for record in train:
        total += record["values"].get("tokens", 0)
        cumulative.append((record["step"], total))
    points = []
    for record in sorted(evals, key=lambda r: r["step"]):
        before = [tokens for step, tokens in cumulative if step <= record["step"]]
        if before:
            points.append((before[-1], record["values"].get("tau"), record["values"].get("acc/0")))
    return points


def fit(points):
    """(a, b) of τ = a + b·ln(x) by least squares, or None."""
    data = [(math.log(x), y) for x, y in points if x > 0 and y is not None]
    if len(data) < 2:
        return None
    n = len(data)
    mx = sum(x for x, _ in data) / n
    my = sum(y for _, y in data) / n
    sxx = sum((x - mx) ** 2 for x, _ in data)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in data) / sxx
    return my - b * mx, b


def budget_for(coefficients, tau):
    if coefficients is None or coefficients[1] <= 0:
        return None
    a, b = coefficients
    return math.exp((tau - a) / b)


def svg(series, title):
    width, height, left, right, top, bottom = 760, 360, 70, 200, 36, 52
    xs = [x for _, pts, _ in series for x, _ in pts if x > 0]
    ys = [y for _, pts, _ in series for _, y in pts if y is not None]
    if not xs:
        return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
    lx0, lx1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = 0.0, max(2.0, math.ceil(max(ys) * 2) / 2)

    def px(x):
        return left + (math.log10(x) - lx0) / max(lx1 - lx0, 1e-9) * (width - left - right)

    def py(y):
        return top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="20" font-size="14" font-weight="bold">{title}</text>',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
             'fill="none" stroke="#444"/>']
    for e in range(lx0, lx1 + 1):
        for m in (1, 2, 5):
            x = m * 10 ** e
            if x < 10 ** lx0 or x > 10 ** lx1:
                continue
            parts.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{height - bottom}" stroke="#eee"/>')
            label = f"{x / 1e6:g}M" if x >= 1e6 else f"{x / 1e3:g}k"
            parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{label}</text>')
    step = 0.5
    y = y0
    while y <= y1 + 1e-9:
        parts.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{width - right}" y2="{py(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += step
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
                 'tokens trained (log scale)</text>')
    parts.append(f'<text x="16" y="{(top + height - bottom) / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {(top + height - bottom) / 2})">τ / accuracy</text>')
    for index, (label, pts, color) in enumerate(series):
        pts = [(x, y) for x, y in pts if x > 0 and y is not None]
        if not pts:
            continue
        dash = ' stroke-dasharray="5,3"' if "acc" in label else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="'
                     + " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts) + '"/>')
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        ly = top + 14 + 18 * index
        parts.append(f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 32}" y2="{ly - 4}" '
                     f'stroke="{color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{width - right + 38}" y="{ly}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", required=True, help="the training run's logs folder (JSONL)")
    parser.add_argument("--eval", action="append", default=[], help="TOKENS=fledge eval report (JSON)")
    parser.add_argument("--svg", help="write the plot here")
    parser.add_argument("--title", default="EAGLE-3 draft for SmolLM2: τ against tokens trained")
    args = parser.parse_args()
    split = read_logs(args.logs)
    colors = ["#2ca02c", "#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#8c564b"]
    series = [("eval split τ (K=4)", [(x, t) for x, t, _ in split], colors[0]),
              ("eval split acc/0", [(x, a) for x, _, a in split], colors[1])]
    bench = {}
    for item in args.eval:
        tokens, path = item.split("=", 1)
        report = json.load(open(path))
        for mode in report["modes"]:
            bench.setdefault(f"MT-bench τ {mode['mode']}", []).append((float(tokens), mode["acceptanceLength"]))
        chains = [m for m in report["modes"] if m["mode"].startswith("chain")]
        if chains:
            bench.setdefault("MT-bench acc/0 (chain)", []).append((float(tokens), chains[0]["acceptanceRates"][0]))
    for index, (label, pts) in enumerate(sorted(bench.items())):
        series.append((label, sorted(pts), colors[(2 + index) % len(colors)]))
    print(f"{'series':34} " + " ".join(f"{x / 1e3:>8.0f}k" for x in sorted({x for _, p, _ in series for x, _ in p})))
    for label, pts, _ in series:
        values = dict(pts)
        row = " ".join(f"{values[x]:9.3f}" if x in values and values[x] is not None else " " * 9
                       for x in sorted({x for _, p, _ in series for x, _ in p}))
        print(f"{label:34} {row}")
    for label, pts, _ in series:
        if "τ" not in label:
            continue
        coefficients = fit(pts)
        if coefficients is None:
            continue
        a, b = coefficients
        guesses = [budget_for(coefficients, tau) for tau in (2.5, 3.0)]
        shown = ", ".join(f"τ {tau}: {g / 1e6:.3g} M tokens" if g else f"τ {tau}: not on this trend"
                          for tau, g in zip((2.5, 3.0), guesses))
        print(f"fit {label}: τ = {a:.3f} + {b:.3f}·ln(tokens); {shown}")
    if args.svg:
        with open(args.svg, "w") as handle:
            handle.write(svg(series, args.title) + "\n")


if __name__ == "__main__":
    main()
