"""The self-check's report: a small HTML page with the check of every filled date."""
from __future__ import annotations

import html

from ..write.output_set import write_text
from .confidence import describe_table
from .date_check import BASIS_NONE, DateCheck


def plain_summary(check: DateCheck, filled_share: float) -> str:
    """One sentence an agronomist reads: how much of the date was filled, how, how far to
    trust it, and against interpolation (on the check's held-back pixels)."""
    day = check.date or check.name
    share = f"Filled {100 * filled_share:.0f} % of {day}"
    if check.basis == BASIS_NONE or check.pixels == 0:
        return (f"{share} by temporal interpolation between its neighbouring dates (nothing on "
                "this scene could check another fill).")
    rmse, interp = check.chosen_mse ** 0.5, check.interp_mse ** 0.5
    ratio = interp / rmse if rmse > 0 else float("inf")
    versus = (f"{ratio:.1f}x smaller than interpolating between its neighbouring dates"
              if ratio >= 1.05 else "about that of interpolating between its neighbouring dates")
    return (f"{share} with {check.verdict}; expected error about {100 * rmse:.1f} % "
            f"reflectance (RMS over bands), {versus}.")


def _figure(pictures: tuple[str, str, str] | None) -> str:
    if not pictures:
        return ""
    cells = "".join(f'<figure><img src="data:image/png;base64,{p}" alt="{t}" width="200">'
                    f"<figcaption>{t}"
                    "</figcaption></figure>"
                    for p, t in zip(pictures, ("before", "after", "filled pixels")))
    return f'<div class="pictures">{cells}</div>'


def write_report(path: str, model_name: str, checks: list[DateCheck],
                 summary: list[str] | None = None,
                 pictures: list[tuple[str, str, str] | None] | None = None) -> None:
    """A small HTML page with the check of every filled date (written atomically), the plain
    summary of the run on top, each date with its before / after / filled-pixel pictures."""
    pictures = pictures or [None] * len(summary or [])
    plain = "".join(f"<li>{html.escape(line)}{_figure(p)}</li>"
                    for line, p in zip(summary or [], pictures))
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{c.date}</td><td>{c.pixels}</td>"
        f"<td>{c.interp_mse:.5f}</td><td>{c.model_mse:.5f}</td><td>{c.interp_sam:.4f}</td>"
        f"<td>{c.model_sam:.4f}</td><td>{html.escape(c.verdict)}</td>"
        f"<td>{c.chosen_mse:.5f}</td><td>{c.chosen_sam:.4f}</td>"
        f"<td>{html.escape(c.basis)}</td>"
        f"<td>{html.escape(describe_table(c.error_by_distance))}</td></tr>"
        f"<tr><td></td><td colspan=\"11\" class=\"why\">{html.escape(c.why)}</td></tr>"
        for c in checks)
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>SMTS CloudFill check</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}
table{{border-collapse:collapse}}.why{{color:#555;font-size:90%}}
.summary{{font-size:110%}}.pictures{{display:flex;gap:8px}}
figure{{margin:4px}}img{{image-rendering:pixelated}}figcaption{{font-size:85%;color:#555;text-align:center}}</style></head><body>
<h1>Fill check: {html.escape(model_name)} vs temporal interpolation</h1>
<ul class="summary">{plain}</ul>
<p>Before filling, clear pixels of each cloudy date were hidden under synthetic clouds (two
independent draws) and filled every candidate way: temporal interpolation, plus or not the
same-date residual correction (what the date's clear pixels around the cloud say, at a Gaussian
scale in pixels), plus a weight of the model's change to interpolation; the model's change whole,
as brightness only, or with the residual as brightness on interpolation's spectrum (keeping
interpolation's spectral angle). Of the candidates never
worse than interpolation on MSE, SAM or SSIM in either draw, each date is filled with the one of
lowest MSE. So a fill can be chosen over the model alone even where the model's mean MSE and SAM
are lower, when the model lost on SSIM or in one draw; the line under each date says which. A
wholly cloudy date has no clear pixel to hold back: whole clear dates of its group are hidden in
turn instead, and the model's brightness whose worst ratio to interpolation (over MSE, SSIM and
the draws) is lowest is taken. Reflectance (data range 1); lower is better. The last column is
the chosen fill's RMS error on the held-back pixels by their distance to the date's nearest clear
pixel: what <code>&lt;name&gt;_filled_rmse.tif</code> gives each filled pixel.</p>
<table><tr><th>raster</th><th>date</th><th>held-back pixels</th><th>interpolation MSE</th>
<th>model MSE</th><th>interpolation SAM</th><th>model SAM</th><th>used</th><th>used: MSE</th>
<th>used: SAM</th><th>basis</th><th>expected error (RMS)</th></tr>
{rows}</table></body></html>
"""
    write_text(path, page)
