"""Parcel time series (core.parcels): each parcel's index per date against an independent
computation from the rasters (pixel centres tested one by one with OGR), filled dates, the
edge cases (raster edge, overlap, another CRS, invalid, tiny and outside parcels), cancel."""
from __future__ import annotations

import os

import numpy as np
import pytest
from osgeo import ogr, osr

from core_helpers import SAMPLE_GT, CallbackFeedback, copy_raster, make_raster, read_raster
from smts_cloudfill_plugin.core.errors import Cancelled, CloudFillError
from smts_cloudfill_plugin.core.indices import INDICES
from smts_cloudfill_plugin.core.parcels.series import (FILLED, NO_DATA, OBSERVED, PARTLY_FILLED,
                                                        Parcel, parcel_series)
from smts_cloudfill_plugin.core.write.names import filled_paths

X0, Y0 = SAMPLE_GT[0], SAMPLE_GT[3]
#: Band positions in the sample's files (B02 ... B12).
BAND = {b: i for i, b in enumerate(("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A",
                                    "B11", "B12"))}


def polygon(*xy: tuple[float, float]) -> ogr.Geometry:
    """A polygon from offsets (metres) east of and south of the sample's corner."""
    ring = ", ".join(f"{X0 + x} {Y0 - y}" for x, y in (*xy, xy[0]))
    return ogr.CreateGeometryFromWkt(f"POLYGON(({ring}))")


def parcels_of(**geoms: ogr.Geometry) -> list[Parcel]:
    return [Parcel(name, g.ExportToWkb()) for name, g in geoms.items()]


# Corners never on a pixel centre (centres lie at 5 + 10 k m), so "inside" is unambiguous.
SHAPES = {
    "triangle": polygon((33, 21), (251, 48), (97, 263)),
    "edge": polygon((-120, 303), (47, 303), (47, 452), (-120, 452)),        # crosses x = 0
    "overlap_a": polygon((301, 301), (503, 301), (503, 502), (301, 502)),
    "overlap_b": polygon((402, 398), (611, 398), (611, 611), (402, 611)),
}


def inside(geometry: ogr.Geometry, width: int, height: int) -> np.ndarray:
    """(h, w) bool: pixel centres inside the geometry, tested one by one."""
    out = np.zeros((height, width), dtype=bool)
    point = ogr.Geometry(ogr.wkbPoint)
    for r in range(height):
        for c in range(width):
            point.SetPoint_2D(0, X0 + (c + 0.5) * 10.0, Y0 - (r + 0.5) * 10.0)
            out[r, c] = geometry.Contains(point)
    return out


def expected_ndvi(raster: np.ndarray, pixels: np.ndarray) -> tuple[float, float]:
    nir = raster[BAND["B08"]][pixels].astype(np.float64) * 1e-4
    red = raster[BAND["B04"]][pixels].astype(np.float64) * 1e-4
    ndvi = (nir - red) / (nir + red)
    return float(ndvi.mean()), float(ndvi.std())


def test_observed_values_equal_an_independent_computation(sample):
    rows = parcel_series(parcels_of(**SHAPES), sample["msi"])
    assert [r.parcel for r in rows] == [p for p in SHAPES for _ in range(6)]
    assert [r.date for r in rows[:6]] == ["2019-04-01", "2019-04-11", "2019-04-21",
                                          "2019-04-26", "2019-05-11", "2019-05-16"]
    for name, geometry in SHAPES.items():
        pixels = inside(geometry, 64, 64)
        assert pixels.sum() > 20
        for t, row in enumerate(r for r in rows if r.parcel == name):
            mean, std = expected_ndvi(read_raster(sample["msi"][t]), pixels)
            assert row.pixels == pixels.sum()
            assert row.mean == pytest.approx(mean, abs=1e-4)
            assert row.std == pytest.approx(std, abs=1e-4)
            assert (row.clear_share, row.filled_share, row.status) == (1.0, 0.0, OBSERVED)
            assert row.expected_error is None
    edge = next(r for r in rows if r.parcel == "edge")
    assert edge.pixels == 5 * 15, "only the part inside the raster counts"


def test_strips_and_a_reprojected_layer_give_the_same_table(sample):
    """Rows in strips of 7 rows, and the parcels given in EPSG:4326, change nothing."""
    base = parcel_series(parcels_of(**SHAPES), sample["msi"])
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32631)
    wgs.ImportFromEPSG(4326)
    for srs in (utm, wgs):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs = osr.CoordinateTransformation(utm, wgs)
    moved = {}
    for name, g in SHAPES.items():
        g = g.Clone()
        g.Transform(to_wgs)
        moved[name] = g
    for rows in (parcel_series(parcels_of(**SHAPES), sample["msi"], strip_rows=7),
                 parcel_series(parcels_of(**moved), sample["msi"], parcels_crs="EPSG:4326")):
        assert [(r.parcel, r.date, r.pixels, r.status) for r in rows] == \
            [(r.parcel, r.date, r.pixels, r.status) for r in base]
        np.testing.assert_allclose([r.mean for r in rows], [r.mean for r in base], atol=1e-9)


def filled_folder(tmp_path, msi_path: str, mask: np.ndarray, rmse: bool = True) -> str:
    """A Reconstruct-like output for one date: the date with its masked pixels' B04 halved,
    the mask, and an expected error of 0.01 + 0.001 x row where filled."""
    folder = tmp_path / "filled"
    folder.mkdir(exist_ok=True)
    names = filled_paths(msi_path, str(folder))
    copy_raster(msi_path, names.filled)
    from osgeo import gdal
    ds = gdal.Open(names.filled, gdal.GA_Update)
    band = ds.GetRasterBand(BAND["B04"] + 1)
    red = band.ReadAsArray()
    band.WriteArray(np.where(mask, red // 2, red))
    ds = None
    make_raster(names.mask, mask.astype(np.uint8)[None], nodata=None)
    if rmse:
        error = np.where(mask, 0.01 + 0.001 * np.arange(64)[:, None], -9999.0).astype(np.float32)
        make_raster(names.rmse, np.broadcast_to(error, (64, 64))[None].copy(), nodata=-9999.0,
                    metadata={"SMTS_INDEX_ERROR_RATIOS": "NDVI=2.5;NDWI=1.5"})
    return str(folder)


def test_a_filled_date_reads_the_fill_its_mask_and_its_expected_error(sample, tmp_path):
    mask = np.zeros((64, 64), dtype=bool)
    mask[:20] = True                          # the triangle's upper part, the edge parcel none
    t = 3
    folder = filled_folder(tmp_path, sample["msi"][t], mask)
    rows = parcel_series(parcels_of(**SHAPES), sample["msi"], folder)
    filled = read_raster(filled_paths(sample["msi"][t], folder).filled)
    for name, geometry in SHAPES.items():
        pixels = inside(geometry, 64, 64)
        row = [r for r in rows if r.parcel == name][t]
        mean, std = expected_ndvi(filled, pixels)
        assert row.mean == pytest.approx(mean, abs=1e-4) and row.std == pytest.approx(std, abs=1e-4)
        share = (pixels & mask).sum() / pixels.sum()
        assert row.filled_share == pytest.approx(share) and row.clear_share == pytest.approx(1 - share)
        assert row.status == {0.0: OBSERVED, 1.0: FILLED}.get(share, PARTLY_FILLED)
        if share > 0:
            rows_filled = np.nonzero(pixels & mask)[0]
            assert row.expected_error == pytest.approx(np.mean(0.01 + 0.001 * rows_filled))
            # In index units: each pixel's error times the check's NDVI ratio (written 2.5).
            assert row.index_error == pytest.approx(
                share * np.mean((0.01 + 0.001 * rows_filled) * 2.5))
        else:
            assert row.expected_error is None and row.index_error is None
    assert {r.status for r in rows if r.parcel == "triangle"} == {OBSERVED, PARTLY_FILLED}
    # The other dates are read from the season itself.
    assert [r.status for r in rows if r.parcel == "triangle"].count(OBSERVED) == 5


def test_a_wholly_filled_parcel_and_one_without_data(sample, tmp_path):
    mask = np.ones((64, 64), dtype=bool)
    folder = filled_folder(tmp_path, sample["msi"][1], mask, rmse=False)
    rows = parcel_series(parcels_of(**SHAPES), sample["msi"], folder)
    row = [r for r in rows if r.parcel == "triangle"][1]
    assert (row.status, row.filled_share, row.clear_share, row.expected_error) == \
        (FILLED, 1.0, 0.0, None)
    # A date whose pixels are all no data (DN 0) over a parcel: no value, 'no data'.
    holes = tmp_path / "holes"
    holes.mkdir()
    paths = [copy_raster(p, holes / os.path.basename(p)) for p in sample["msi"]]
    from osgeo import gdal
    ds = gdal.Open(paths[2], gdal.GA_Update)
    for b in range(ds.RasterCount):
        band = ds.GetRasterBand(b + 1)
        a = band.ReadAsArray()
        a[:, :10] = 0
        band.WriteArray(a)
    ds = None
    row = [r for r in parcel_series(parcels_of(**SHAPES), paths) if r.parcel == "edge"][2]
    assert (row.mean, row.std, row.status, row.clear_share) == (None, None, NO_DATA, 0.0)


@pytest.mark.parametrize("index", ["EVI", "NDMI", "B04"])
def test_other_indices(sample, index):
    rows = parcel_series(parcels_of(triangle=SHAPES["triangle"]), sample["msi"], index=index)
    pixels = inside(SHAPES["triangle"], 64, 64)
    raster = read_raster(sample["msi"][0]).astype(np.float64) * 1e-4
    values = INDICES[index].compute({b: raster[BAND[b]][pixels] for b in INDICES[index].bands})
    assert rows[0].mean == pytest.approx(values.mean(), abs=1e-6)
    if index == "B04":
        assert rows[0].mean == pytest.approx(raster[BAND["B04"]][pixels].mean())


def test_unusable_parcels_are_warned_and_left_out(sample):
    messages = []
    bowtie = polygon((10, 10), (300, 300), (300, 10), (10, 300))
    rows = parcel_series(parcels_of(triangle=SHAPES["triangle"], tiny=polygon((301, 301), (304, 301),
                                                                              (304, 308)),
                                    outside=polygon((-900, 10), (-500, 10), (-500, 300)),
                                    bowtie=bowtie),
                         sample["msi"], feedback=CallbackFeedback(on_message=messages.append))
    assert {r.parcel for r in rows} == {"triangle"}
    text = "\n".join(messages)
    assert "Parcel tiny covers no pixel centre" in text
    assert "Parcel outside lies outside the rasters" in text
    assert "Parcel bowtie: invalid geometry" in text and "Fix geometries" in text
    with pytest.raises(CloudFillError, match="No parcel covers a pixel centre"):
        parcel_series(parcels_of(outside=polygon((-900, 10), (-500, 10), (-500, 300))),
                      sample["msi"])


def test_bad_input_is_named(sample, tmp_path):
    with pytest.raises(CloudFillError, match="Unknown index 'NDXI'"):
        parcel_series(parcels_of(**SHAPES), sample["msi"], index="NDXI")
    mask = np.zeros((64, 64), dtype=bool)
    folder = filled_folder(tmp_path, sample["msi"][1], mask)
    os.remove(filled_paths(sample["msi"][1], folder).mask)
    with pytest.raises(CloudFillError, match="has no filled-pixel mask"):
        parcel_series(parcels_of(**SHAPES), sample["msi"], folder)
    four = tmp_path / "four.tif"
    make_raster(four, read_raster(sample["msi"][0])[:4], descriptions=["B02", "B03", "B04", "B05"])
    with pytest.raises(CloudFillError, match="NDVI needs bands B08, B04"):
        parcel_series(parcels_of(**SHAPES), [str(four)])


def test_cancel_stops_the_run(sample):
    calls = []
    with pytest.raises(Cancelled):
        parcel_series(parcels_of(**SHAPES), sample["msi"],
                      feedback=CallbackFeedback(cancelled=lambda: calls.append(1) or len(calls) > 3))
