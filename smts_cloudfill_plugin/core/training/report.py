"""A self-contained HTML training report: loss curves and metrics vs interpolation, on held-out
windows, or said to be on the training windows when nothing was held out.

Plain strings and inline SVG, so it needs nothing beyond the standard library and opens in any
browser (and in QGIS's Processing results viewer).
"""
from __future__ import annotations

import html
from typing import Sequence


def svg_lines(series: dict[str, Sequence[tuple[float, float]]], width: int = 640,
              height: int = 260, y_label: str = "", log_y: bool = False) -> str:
    """A small line chart of named (x, y) series."""
    import math
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    pts = [p for s in series.values() for p in s if p[1] == p[1] and (not log_y or p[1] > 0)]
    if not pts:
        return "<p>(no data to plot)</p>"
    fy = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(fy(p[1]) for p in pts), max(fy(p[1]) for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-9)
    ml, mr, mt, mb = 60, 10, 10, 30

    def sx(x: float) -> float:
        return ml + (x - x0) / (x1 - x0) * (width - ml - mr)

    def sy(y: float) -> float:
        return mt + (1 - (fy(y) - y0) / (y1 - y0)) * (height - mt - mb)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect x="{ml}" y="{mt}" width="{width - ml - mr}" height="{height - mt - mb}" '
           f'fill="none" stroke="#999"/>']
    for frac in (0, 0.5, 1):
        yv = y0 + frac * (y1 - y0)
        label = f"{10 ** yv:.3g}" if log_y else f"{yv:.3g}"
        out.append(f'<text x="{ml - 4}" y="{sy(10 ** yv if log_y else yv) + 4:.1f}" '
                   f'text-anchor="end">{label}</text>')
    out.append(f'<text x="{ml}" y="{height - 8}">{x0:g}</text>'
               f'<text x="{width - mr}" y="{height - 8}" text-anchor="end">{x1:g} steps</text>')
    for i, (name, s) in enumerate(series.items()):
        good = [p for p in s if p[1] == p[1] and (not log_y or p[1] > 0)]
        c = colours[i % len(colours)]
        if good:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.8" points="{path}"/>')
        out.append(f'<text x="{ml + 8}" y="{mt + 14 + 14 * i}" fill="{c}">{html.escape(name)}</text>')
    if y_label:
        out.append(f'<text x="12" y="{mt + (height - mt - mb) / 2}" transform="rotate(-90 12 '
                   f'{mt + (height - mt - mb) / 2})" text-anchor="middle">{html.escape(y_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def nothing_held_out(summary: dict[str, str]) -> bool:
    """Whether the summary's 'windows' line says no window was held out ('..., 0 held out')."""
    return " 0 held out" in f" {summary.get('windows', '')}"


def training_report(title: str, summary: dict[str, str], history: list[dict],
                    metrics: list[dict], notes: list[str], held_out: bool | None = None) -> str:
    """The report page. ``metrics`` rows: {'clouds', 'method', 'mse', 'sam', 'psnr', 'ssim'}.

    ``held_out``: whether the metrics are on held-out windows (default: read from the summary's
    'windows' line). When not, every heading says the metrics are on the training windows.
    """
    if held_out is None:
        held_out = not nothing_held_out(summary)
    if held_out:
        val_title, val_name = "Validation", "validation masked MSE"
        metrics_title = "Held-out windows: model vs temporal interpolation"
        caveat = ""
    else:
        val_title, val_name = ("Validation on the training windows (nothing was held out)",
                               "masked MSE on the training windows")
        metrics_title = "Training windows (nothing was held out): model vs temporal interpolation"
        caveat = ("<p><b>Nothing was held out:</b> these metrics are on the windows the model was "
                  "trained on and flatter it. Set a validation fraction above 0 (with enough "
                  "dates) to measure it on windows it has not seen.</p>")
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in summary.items())
    loss = svg_lines({"training loss (0.5 MSE + 0.5 SAM, 3 scales)":
                      [(h["step"], h["loss"]) for h in history]}, y_label="loss")
    val = svg_lines({val_name: [(h["step"], h["val_mse"]) for h in history]},
                    y_label="masked MSE", log_y=True)
    mrows = "".join(
        f"<tr><td>{m['clouds']}</td><td>{html.escape(m['method'])}</td><td>{m['mse']:.5f}</td>"
        f"<td>{m['sam']:.4f}</td><td>{m['psnr']:.2f}</td><td>{m['ssim']:.4f}</td>"
        f"<td>{m.get('vs_interpolation', '')}</td></tr>" for m in metrics)
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:1em auto;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:left}}th{{background:#f3f3f3}}</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{rows}</table>
<h2>Loss</h2>{loss}
<h2>{html.escape(val_title)}</h2>{val}
<h2>{html.escape(metrics_title)}</h2>
{caveat}<p>Masked metrics on clear pixels hidden under seeded synthetic clouds (reflectance, data
range 1); lower MSE and SAM are better, higher PSNR and SSIM are better.</p>
<table><tr><th>clouds</th><th>method</th><th>MSE</th><th>SAM (rad)</th><th>PSNR (dB)</th>
<th>SSIM</th><th>MSE vs interpolation</th></tr>{mrows}</table>
<ul>{note_html}</ul>
<p>Contains modified Copernicus Sentinel data where the stacks are Sentinel data. Method: Li,
Wang, State, IGARSS 2025, arXiv:2506.19591.</p>
</body></html>
"""
