"""Per-pixel confidence (core.choose.confidence): distances to the nearest clear pixel, the
error table the self-check measures, and Reconstruct's ``_filled_rmse.tif`` on the sample."""
from __future__ import annotations

import html
import os

import numpy as np
import pytest
from osgeo import gdal

from core_helpers import CallbackFeedback, read_raster
from smts_cloudfill_plugin.core.choose import confidence
from smts_cloudfill_plugin.core.reconstruct import reconstruct


def brute_distance(missing: np.ndarray) -> np.ndarray:
    clear = np.argwhere(~missing)
    rows, cols = np.indices(missing.shape)
    d = np.sqrt((rows[..., None] - clear[:, 0]) ** 2 + (cols[..., None] - clear[:, 1]) ** 2)
    return d.min(-1)


def test_distance_to_clear_is_the_euclidean_distance_in_pixels():
    rng = np.random.default_rng(0)
    missing = np.zeros((2, 30, 40), bool)
    missing[0, 5:20, 8:30] = True
    missing[1] = rng.random((30, 40)) < 0.8
    found = confidence.distance_to_clear(missing)
    for m, d in zip(missing, found):
        np.testing.assert_allclose(d, brute_distance(m), atol=1e-4)
    assert (confidence.distance_to_clear(np.ones((1, 5, 5), bool)) == confidence.FAR).all()


def test_error_table_fills_unmeasured_bands_and_never_falls_with_distance():
    n = confidence.BANDS
    counts = np.zeros(n)
    squares = np.zeros(n)
    counts[[1, 2, 4]] = 100
    squares[[1, 2, 4]] = 100 * np.array([0.02, 0.01, 0.05]) ** 2
    table = confidence.error_table(squares, counts)
    assert table[0] == pytest.approx(0.02)            # the nearest measured band farther out
    assert table[1] == pytest.approx(0.02) and table[2] == pytest.approx(0.02)  # no fall
    assert table[3] == pytest.approx(0.02)            # from the closer band
    assert all(v == pytest.approx(0.05) for v in table[4:])
    assert confidence.error_table(np.zeros(n), np.zeros(n)) is None
    # Beyond the farthest measured band, at least the error without same-date information.
    far = confidence.error_table(squares, counts, far=0.08)
    assert far[:5] == table[:5] and all(v == pytest.approx(0.08) for v in far[5:])
    assert confidence.error_table(squares, counts, far=0.001) == table
    assert confidence.expected_error(table, np.array([0.5, 3.0, 100.0])).tolist() == \
        pytest.approx([0.02, 0.02, 0.05])


@pytest.fixture(scope="module")
def checked_run(tmp_path_factory):
    from core_helpers import sample_paths
    out = tmp_path_factory.mktemp("confidence")
    msi, scl, sar = sample_paths("msi"), sample_paths("scl"), sample_paths("sar")
    messages = []
    results = reconstruct(msi, str(out), masks=scl, sar=sar, device="cpu",
                          feedback=CallbackFeedback(on_message=messages.append))
    return results, out, messages


def test_every_checked_date_gets_its_expected_error_by_distance(checked_run):
    results, out, _ = checked_run
    assert results and all(r.rmse_path for r in results)
    for r in results:
        assert os.path.basename(r.rmse_path) == os.path.basename(r.path)[:-4] + "_rmse.tif"
        ds = gdal.Open(r.rmse_path)
        assert (ds.RasterXSize, ds.RasterYSize) == (64, 64)
        assert ds.GetGeoTransform() == gdal.Open(r.path).GetGeoTransform()
        band = ds.GetRasterBand(1)
        assert band.GetNoDataValue() == confidence.NODATA
        table = tuple(float(v) for v in ds.GetMetadataItem("SMTS_ERROR_BY_DISTANCE").split(","))
        error = band.ReadAsArray()
        filled = read_raster(r.mask_path)[0] == 1
        assert (error[~filled] == confidence.NODATA).all()
        # Each filled pixel: the table's error at its distance to the date's nearest clear pixel.
        expected = confidence.expected_error(table, brute_distance(filled))
        np.testing.assert_allclose(error[filled], expected[filled], rtol=1e-4)
        assert (error[filled] > 0).all() and (error[filled] < 0.5).all()
        assert list(table) == sorted(table)


def test_the_parcel_table_reads_the_expected_error(checked_run):
    from osgeo import ogr
    from core_helpers import sample_paths
    from smts_cloudfill_plugin.core.parcels.series import Parcel, parcel_series
    results, out, _ = checked_run
    x0, y0 = 574680.0, 5622440.0
    ring = f"{x0} {y0}, {x0 + 640} {y0}, {x0 + 640} {y0 - 640}, {x0} {y0 - 640}, {x0} {y0}"
    whole = Parcel("all", ogr.CreateGeometryFromWkt(f"POLYGON(({ring}))").ExportToWkb())
    rows = parcel_series([whole], sample_paths("msi"), str(out))
    for r in results:
        row = rows[r.date_index]
        error = gdal.Open(r.rmse_path).ReadAsArray()
        assert row.expected_error == pytest.approx(error[error != confidence.NODATA].mean())
        assert row.filled_share == pytest.approx((error != confidence.NODATA).mean())
        # The check measured what the error becomes in NDVI; the table carries it.
        ratios = confidence.parse_ratios(
            gdal.Open(r.rmse_path).GetMetadataItem(confidence.INDEX_RATIOS_KEY))
        assert {"NDVI", "NDWI", "EVI", "NDRE", "NDMI", "B04"} <= set(ratios)
        assert 0 < ratios["NDVI"] < 50
        assert row.index_error == pytest.approx(row.filled_share * row.expected_error *
                                                ratios["NDVI"])


def test_a_plain_summary_in_the_log_and_on_top_of_the_report(checked_run):
    """Item 5: per filled date, the share filled, how, the expected error and the gain over
    interpolation, in words; the same lines open the report."""
    results, out, messages = checked_run
    lines = messages[messages.index("In short:") + 1:]
    assert len(lines) == len(results)
    report = (out / "cloudfill_check.html").read_text()
    for r, line in zip(results, lines):
        share = 100 * r.cloud_fraction
        assert line.strip().startswith(f"Filled {share:.0f} % of {r.date.isoformat()} with ")
        assert "expected error about " in line and "% reflectance (RMS over bands)" in line
        assert "interpolating between its neighbouring dates" in line
        assert html.escape(line.strip()[1:]) in report
    assert report.index('class="summary"') < report.index("<table>")
    # Before / after / filled-pixel pictures under each line: PNGs, the after differs.
    import base64
    import re
    images = re.findall(r'src="data:image/png;base64,([^"]+)" alt="([^"]+)"', report)
    assert [alt for _, alt in images] == ["before", "after", "filled pixels"] * len(results)
    decoded = []
    for data, _ in images[:3]:
        path = f"/vsimem/t_{len(decoded)}.png"
        gdal.FileFromMemBuffer(path, base64.b64decode(data))
        decoded.append(gdal.Open(path).ReadAsArray())
        gdal.Unlink(path)
    assert decoded[0].shape == (3, 64, 64)
    assert (decoded[0] != decoded[1]).any()
    magenta = (decoded[2][0] == 255) & (decoded[2][1] == 0) & (decoded[2][2] == 255)
    assert magenta.sum() == (read_raster(results[0].mask_path)[0] == 1).sum()
